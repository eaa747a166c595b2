//! Browser tests: polls.

use super::*;

/// "Lunch?" in the lobby, by Alice, with these counts.
fn lunch(id: u64, counts: &[u64], closed: bool, my_vote: Option<u32>) -> PollInfo {
    PollInfo {
        id,
        room: RoomName::lobby(),
        creator: user("Alice"),
        question: "Lunch?".into(),
        options: vec!["Pizza".into(), "Sushi".into(), "Salad".into()],
        closes_at: None,
        tally: Tally {
            version: 3,
            counts: counts.to_vec(),
            voters: counts.iter().sum(),
            closed,
        },
        my_vote,
    }
}

fn panel_props(polls: Vec<PollInfo>, me: &str) -> PollsPanelProps {
    PollsPanelProps {
        room: RoomName::lobby(),
        polls: Rc::new(polls),
        me: Some(user(me)),
        loading: false,
        form_open: false,
        form_busy: false,
        form_error: None,
        expanded: true,
        on_vote: Callback::noop(),
        on_close: Callback::noop(),
        on_form: Callback::noop(),
        on_create: Callback::noop(),
        on_form_edit: Callback::noop(),
    }
}

/// Per option of the poll `data-poll={id}`: (count, percent, bar style, mine, winner).
fn poll_rows(root: &Element, id: u64) -> Vec<(String, String, String, bool, bool)> {
    let found = root
        .query_selector_all(&format!(
            "#polls article.poll[data-poll='{id}'] button.poll-option"
        ))
        .unwrap();
    (0..found.length())
        .map(|i| {
            let b: Element = found.item(i).unwrap().dyn_into().unwrap();
            let part = |s: &str| text(&b.query_selector(s).unwrap().unwrap());
            let bar = b.query_selector(".poll-bar").unwrap().unwrap();
            (
                part(".poll-count"),
                part(".poll-percent"),
                bar.get_attribute("style").unwrap_or_default(),
                b.class_list().contains("mine"),
                b.class_list().contains("winner"),
            )
        })
        .collect()
}

fn row(count: &str, pct: &str, mine: bool, winner: bool) -> (String, String, String, bool, bool) {
    (
        count.into(),
        format!("{pct}%"),
        format!("width: {pct}%"),
        mine,
        winner,
    )
}

#[wasm_bindgen_test]
async fn poll_bars_match_the_percentages_and_votes_are_buttons() {
    let votes = Rc::new(RefCell::new(Vec::new()));
    let on_vote = {
        let votes = votes.clone();
        Callback::from(move |v: (u64, u32)| votes.borrow_mut().push(v))
    };
    let root = render(
        polls_panel,
        PollsPanelProps {
            on_vote,
            ..panel_props(vec![lunch(7, &[2, 1, 1], false, Some(1))], "Bob")
        },
    );
    find(&root, "section#polls article.poll[data-poll='7']").await;
    assert_eq!(
        text(&find(&root, ".polls-head .polls-count").await),
        "1 open"
    );
    assert_eq!(
        poll_rows(&root, 7),
        [
            row("2", "50", false, false),
            row("1", "25", true, false),
            row("1", "25", false, false),
        ]
    );
    let poll = find(&root, "article.poll[data-poll='7']").await;
    assert!(!poll.class_list().contains("closed"));
    assert_eq!(text(&find(&poll, "h3.poll-question").await), "Lunch?");
    assert_eq!(text(&find(&poll, ".poll-voters").await), "4");
    let mine = find(&poll, "button.poll-option.mine").await;
    assert_eq!(mine.get_attribute("data-option").as_deref(), Some("1"));
    assert_eq!(mine.get_attribute("aria-pressed").as_deref(), Some("true"));
    // Bob did not create it: no close button. A click votes.
    assert!(poll.query_selector("button.poll-close").unwrap().is_none());
    click(&find(&poll, "button.poll-option[data-option='2']").await);
    assert_eq!(*votes.borrow(), [(7, 2)]);
}

#[wasm_bindgen_test]
async fn a_closed_poll_shows_the_result_and_takes_no_votes() {
    let closes = Rc::new(RefCell::new(Vec::new()));
    let on_close = {
        let closes = closes.clone();
        Callback::from(move |id: u64| closes.borrow_mut().push(id))
    };
    let root = render(
        polls_panel,
        PollsPanelProps {
            on_close,
            ..panel_props(
                vec![
                    lunch(8, &[0, 0, 0], false, None),
                    lunch(7, &[1, 3, 0], true, Some(0)),
                ],
                "Alice",
            )
        },
    );
    assert_eq!(
        text(&find(&root, ".polls-head .polls-count").await),
        "1 open · 1 closed"
    );
    // The creator may close the open one.
    let open = find(&root, "article.poll[data-poll='8']").await;
    assert_eq!(
        poll_rows(&root, 8),
        [
            row("0", "0", false, false),
            row("0", "0", false, false),
            row("0", "0", false, false),
        ]
    );
    click(&find(&open, "button.poll-close").await);
    assert_eq!(*closes.borrow(), [8]);

    let closed = find(&root, "article.poll.closed[data-poll='7']").await;
    assert!(
        closed
            .query_selector("button.poll-close")
            .unwrap()
            .is_none()
    );
    assert_eq!(
        poll_rows(&root, 7),
        [
            row("1", "25", true, false),
            row("3", "75", false, true),
            row("0", "0", false, false),
        ]
    );
    assert!(text(&closed).contains("Closed"));
    let result = text(&find(&closed, ".poll-result").await);
    assert!(result.contains("Sushi wins with 75%"), "{result}");
    let sushi = find(&closed, "button.poll-option.winner").await;
    assert!(sushi.has_attribute("disabled"));
}

#[wasm_bindgen_test]
async fn the_new_poll_form_checks_the_options_before_sending() {
    let created = Rc::new(RefCell::new(Vec::<(PollSpec, Option<u32>)>::new()));
    let on_create = {
        let created = created.clone();
        Callback::from(move |p| created.borrow_mut().push(p))
    };
    let root = render(
        polls_panel,
        PollsPanelProps {
            on_create,
            form_open: true,
            ..panel_props(vec![], "Alice")
        },
    );
    let form = find(&root, "#polls form#new-poll-form").await;
    let edit = |selector: &str, value: &str| {
        let field: HtmlInputElement = form
            .query_selector(selector)
            .unwrap()
            .unwrap()
            .dyn_into()
            .unwrap();
        field.set_value(value);
        let init = web_sys::InputEventInit::new();
        init.set_bubbles(true);
        let event = web_sys::InputEvent::new_with_event_init_dict("input", &init).unwrap();
        field.dispatch_event(&event).unwrap();
    };
    let first = "li:nth-child(1) input.poll-option-input";
    let second = "li:nth-child(2) input.poll-option-input";
    assert_eq!(
        form.query_selector_all("input.poll-option-input")
            .unwrap()
            .length(),
        2
    );
    let submit = find(&form, "button#poll-submit[type='submit']").await;

    // Too few options (a blank field does not count).
    edit("#poll-question", "Lunch?");
    edit(first, "Pizza");
    click(&submit);
    let error = find(&form, "p.field-error#poll-error").await;
    assert!(
        text(&error).contains("at least 2 options"),
        "{}",
        text(&error)
    );

    // The same option twice.
    edit(second, " pizza ");
    wait_for(&root, "#new-poll-form", |f| {
        f.query_selector("#poll-error").unwrap().is_none()
    })
    .await;
    click(&submit);
    wait_for(&form, "#poll-error", |e| text(e).contains("same")).await;
    assert!(created.borrow().is_empty());

    // A third option field, then a valid poll.
    click(&find(&form, "button#poll-add-option[type='button']").await);
    wait_for(&form, "li:nth-child(3) input.poll-option-input", |_| true).await;
    edit(second, "Sushi");
    edit("li:nth-child(3) input.poll-option-input", "Salad");
    edit("#poll-minutes", "15");
    click(&submit);
    {
        let sent = created.borrow();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0.options(), ["Pizza", "Sushi", "Salad"]);
        assert_eq!(sent[0].1, Some(15));
    }

    // The server's complaint is shown in the same place.
    let root = render(
        polls_panel,
        PollsPanelProps {
            form_open: true,
            form_error: Some("The closing time has passed already.".into()),
            ..panel_props(vec![], "Alice")
        },
    );
    let error = find(&root, "#new-poll-form #poll-error").await;
    assert_eq!(text(&error), "The closing time has passed already.");
}
