//! Browser tests: sidebar and directory.

use super::*;

/// A sidebar for Alice, nothing shown, every callback a no-op.
fn sidebar_props(rooms: Vec<RoomEntry>, dms: Vec<DmEntry>) -> SidebarProps {
    SidebarProps {
        me: user("Alice"),
        rooms,
        dms,
        active: None,
        directory_open: false,
        open: false,
        conn_state: "open".into(),
        logging_out: false,
        new_dm_error: None,
        new_dm_busy: false,
        on_select: Callback::noop(),
        on_new_dm: Callback::noop(),
        on_new_dm_edit: Callback::noop(),
        on_open_directory: Callback::noop(),
        on_logout: Callback::noop(),
        on_close: Callback::noop(),
    }
}

#[wasm_bindgen_test]
async fn sidebar_links_to_the_transport_lab_page() {
    let root = render(sidebar, sidebar_props(vec![], vec![]));
    // A plain link: the lab is a page of its own (its own wasm, not in the chat's).
    let link = find(&root, "a#open-lab[href='/lab/']").await;
    assert_eq!(text(&link), "Transport lab");
}

#[wasm_bindgen_test]
async fn sidebar_lists_conversations_with_presence_and_unread_badges() {
    let selected = Rc::new(RefCell::new(Vec::<Channel>::new()));
    let on_select = {
        let selected = selected.clone();
        Callback::from(move |channel| selected.borrow_mut().push(channel))
    };
    let dm = |with: &str, unread: u64, online: bool| DmEntry {
        with: user(with),
        unread,
        online,
    };
    let root = render(
        sidebar,
        SidebarProps {
            active: Some(Channel::Dm(user("bob"))),
            on_select,
            ..sidebar_props(
                vec![
                    RoomEntry {
                        name: RoomName::lobby(),
                        unread: 3,
                    },
                    RoomEntry {
                        name: RoomName::parse("rust").unwrap(),
                        unread: 0,
                    },
                ],
                vec![dm("Carol", 120, false), dm("Bob", 0, true)],
            )
        },
    );
    find(&root, "ul#my-dms").await;
    let items = root.query_selector_all("#my-dms > li.dm").unwrap();
    let users: Vec<String> = (0..items.length())
        .map(|i| {
            let li: Element = items.item(i).unwrap().dyn_into().unwrap();
            li.get_attribute("data-user").unwrap()
        })
        .collect();
    assert_eq!(users, ["Carol", "Bob"]);
    let bob = find(&root, "li.dm[data-user='Bob']").await;
    assert!(bob.class_list().contains("online"));
    // The active conversation is found whatever the case of its name.
    assert!(bob.class_list().contains("active"));
    assert!(bob.query_selector(".unread-badge").unwrap().is_none());
    let carol = find(&root, "li.dm[data-user='Carol']").await;
    assert!(!carol.class_list().contains("online"));
    let badge = carol.query_selector(".unread-badge").unwrap().unwrap();
    assert_eq!(text(&badge), "99+");
    let lobby = find(&root, "li.room[data-room='lobby'] .unread-badge").await;
    assert_eq!(text(&lobby), "3");
    assert!(
        root.query_selector("li.room[data-room='rust'] .unread-badge")
            .unwrap()
            .is_none()
    );

    click(&carol.query_selector("button").unwrap().unwrap());
    assert_eq!(*selected.borrow(), [Channel::Dm(user("Carol"))]);
}

#[wasm_bindgen_test]
async fn new_conversation_form_checks_the_name_before_asking() {
    let asked = Rc::new(RefCell::new(Vec::<String>::new()));
    let on_new_dm = {
        let asked = asked.clone();
        Callback::from(move |u: Username| asked.borrow_mut().push(u.to_string()))
    };
    let root = render(
        sidebar,
        SidebarProps {
            on_new_dm,
            ..sidebar_props(vec![], vec![])
        },
    );
    let name: HtmlInputElement = find(&root, "form#new-dm-form input#new-dm-name")
        .await
        .dyn_into()
        .unwrap();
    let submit = find(
        &root,
        "form#new-dm-form button#new-dm-submit[type='submit']",
    )
    .await;

    // Oneself is refused here, and so is a name the server would refuse.
    name.set_value("alice");
    click(&submit);
    let error = find(&root, "p.field-error#new-dm-error").await;
    assert!(text(&error).contains("That is you"), "{}", text(&error));
    name.set_value("no spaces");
    click(&submit);
    wait_for(&root, "#new-dm-error", |e| {
        text(e).contains("(not a space)")
    })
    .await;
    assert!(asked.borrow().is_empty());

    name.set_value("@Bob");
    click(&submit);
    assert_eq!(*asked.borrow(), ["Bob"]);
    wait_for(&root, "#new-dm-form", |_| {
        root.query_selector("#new-dm-error").unwrap().is_none()
    })
    .await;

    // The server's answer is shown in the same place.
    let root = render(
        sidebar,
        SidebarProps {
            new_dm_error: Some("There is no user named Zed.".into()),
            ..sidebar_props(vec![], vec![])
        },
    );
    let error = find(&root, "#new-dm-form #new-dm-error").await;
    assert_eq!(text(&error), "There is no user named Zed.");
}

#[wasm_bindgen_test]
async fn sidebar_lists_rooms_and_marks_the_active_one() {
    let selected = Rc::new(RefCell::new(Vec::<String>::new()));
    let on_select = {
        let selected = selected.clone();
        Callback::from(move |channel: Channel| selected.borrow_mut().push(channel.to_string()))
    };
    let (directory, on_open_directory) = counter();
    let (logout, on_logout) = counter();
    let rooms = ["e2e-room", "lobby", "rust"].map(|r| RoomEntry {
        name: RoomName::parse(r).unwrap(),
        unread: 0,
    });
    let root = render(
        sidebar,
        SidebarProps {
            active: Some(Channel::Room(RoomName::lobby())),
            on_select,
            on_open_directory,
            on_logout,
            ..sidebar_props(rooms.to_vec(), vec![])
        },
    );
    find(&root, "nav#sidebar ul#my-rooms").await;
    let items = root.query_selector_all("#my-rooms > li.room").unwrap();
    let names: Vec<String> = (0..items.length())
        .map(|i| {
            let li = items.item(i).unwrap().dyn_into::<Element>().unwrap();
            li.get_attribute("data-room").unwrap()
        })
        .collect();
    assert_eq!(names, ["e2e-room", "lobby", "rust"]);
    let active = root.query_selector_all("#my-rooms li.active").unwrap();
    assert_eq!(active.length(), 1);
    let active: Element = active.item(0).unwrap().dyn_into().unwrap();
    assert_eq!(active.get_attribute("data-room").as_deref(), Some("lobby"));
    assert!(text(&root).contains("Alice"));

    click(
        &root
            .query_selector("li.room[data-room='rust'] button")
            .unwrap()
            .unwrap(),
    );
    assert_eq!(*selected.borrow(), ["#rust"]);
    click(&find(&root, "button#open-directory").await);
    click(&find(&root, "button#logout").await);
    assert_eq!((*directory.borrow(), *logout.borrow()), (1, 1));
}

#[wasm_bindgen_test]
async fn directory_offers_join_and_validates_new_room_names() {
    let joined = Rc::new(RefCell::new(Vec::<String>::new()));
    let created = Rc::new(RefCell::new(Vec::<String>::new()));
    let record = |into: &Rc<RefCell<Vec<String>>>| {
        let into = into.clone();
        Callback::from(move |room: RoomName| into.borrow_mut().push(room.to_string()))
    };
    let info = |room: &str, members: u32, joined: bool| RoomInfo {
        room: RoomName::parse(room).unwrap(),
        members,
        joined,
    };
    let root = render(
        directory,
        DirectoryProps {
            rooms: Some(vec![info("games", 3, false), info("lobby", 1, true)]),
            loading: false,
            create_error: Some("#games already exists: join it from the list below.".into()),
            creating: false,
            joining: None,
            on_join: record(&joined),
            on_open: Callback::noop(),
            on_create: record(&created),
            on_create_edit: Callback::noop(),
        },
    );
    let games = find(&root, "#directory li.directory-room[data-room='games']").await;
    assert!(text(&games).contains("3 members"));
    let lobby = find(&root, "li.directory-room[data-room='lobby']").await;
    assert!(text(&lobby).contains("1 member"));
    assert!(lobby.query_selector("button.join").unwrap().is_none());
    click(&games.query_selector("button.join").unwrap().unwrap());
    assert_eq!(*joined.borrow(), ["games"]);

    // The server's answer to the last attempt is shown under the form.
    let error = find(&root, "#create-room-form p.field-error").await;
    assert!(text(&error).contains("already exists"));

    // A name the rules refuse is not sent.
    let name = input(&root, "#create-room-form input#create-room-name");
    name.set_value("no spaces");
    click(&find(&root, "button#create-room-submit[type='submit']").await);
    wait_for(&root, "#create-room-form p.field-error", |e| {
        text(e).contains("(not a space)")
    })
    .await;
    assert!(created.borrow().is_empty());

    // Names are lower-cased, as the server does.
    name.set_value("Board-Games");
    click(&find(&root, "#create-room-submit").await);
    assert_eq!(*created.borrow(), ["board-games"]);
}
