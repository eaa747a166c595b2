//! Browser tests: message list.

use super::*;

#[wasm_bindgen_test]
async fn message_bodies_are_text_not_html() {
    let root = render(
        message_list,
        list(
            vec![
                chat(1, "Mallory", "<b>bold</b><img src=x onerror=alert(1)>"),
                chat(2, "Alice", "line one\nline two"),
            ],
            vec![],
        ),
    );
    let ol = find(&root, "ol#messages").await;
    assert_eq!(ol.get_attribute("data-room").as_deref(), Some("lobby"));
    let first = find(&root, "#messages li.message[data-seq='1']").await;
    let body = first.query_selector(".body").unwrap().unwrap();
    assert_eq!(text(&body), "<b>bold</b><img src=x onerror=alert(1)>");
    assert!(body.query_selector("b").unwrap().is_none());
    assert!(root.query_selector("img").unwrap().is_none());
    assert_eq!(
        text(&first.query_selector(".sender").unwrap().unwrap()),
        "Mallory"
    );
    let time = first.query_selector("time").unwrap().unwrap();
    let hhmm = text(&time);
    assert_eq!(hhmm.len(), 5, "{hhmm:?}");
    assert_eq!(&hhmm[2..3], ":");
    assert!(!first.class_list().contains("own"));

    let second = find(&root, "li.message[data-seq='2']").await;
    assert!(second.class_list().contains("own"));
    let body = second.query_selector(".body").unwrap().unwrap();
    assert_eq!(text(&body), "line one\nline two");
}

#[wasm_bindgen_test]
async fn pending_and_failed_messages_follow_the_history() {
    let pending = |id: &str, acked: Option<u64>, failed: Option<&str>| Pending {
        client_id: ClientMsgId::parse(id).unwrap(),
        body: MessageBody::parse("on its way").unwrap(),
        acked,
        failed: failed.map(str::to_owned),
    };
    let root = render(
        message_list,
        list(
            vec![chat(1, "Bob", "hi")],
            vec![
                pending("p1", None, None),
                pending("p2", Some(7), None),
                pending("p3", None, Some("rate limited")),
            ],
        ),
    );
    find(&root, "li.message[data-seq='1']").await;
    let items = root.query_selector_all("#messages > li.message").unwrap();
    assert_eq!(items.length(), 4);
    let rest: Vec<Element> = (1..4)
        .map(|i| items.item(i).unwrap().dyn_into::<Element>().unwrap())
        .collect();
    assert_eq!(
        rest[0].get_attribute("class").as_deref(),
        Some("message own pending")
    );
    assert!(rest[0].get_attribute("data-seq").is_none());
    assert_eq!(
        rest[0].get_attribute("data-client-id").as_deref(),
        Some("p1")
    );
    assert!(text(&rest[0]).contains("Sending"));
    assert_eq!(
        rest[1].get_attribute("class").as_deref(),
        Some("message own sent")
    );
    assert!(text(&rest[1]).contains("Sent"));
    assert_eq!(
        rest[2].get_attribute("class").as_deref(),
        Some("message own failed")
    );
    assert!(text(&rest[2]).contains("rate limited"));
    // Only a failed one offers Retry and Discard.
    assert_eq!(root.query_selector_all("button.retry").unwrap().length(), 1);
    assert_eq!(
        root.query_selector_all("button.discard").unwrap().length(),
        1
    );
}

#[wasm_bindgen_test]
async fn a_failed_message_offers_retry_and_discard_for_its_client_id() {
    let pending = |id: &str, failed: Option<&str>| Pending {
        client_id: ClientMsgId::parse(id).unwrap(),
        body: MessageBody::parse("important").unwrap(),
        acked: None,
        failed: failed.map(str::to_owned),
    };
    let retried = Rc::new(RefCell::new(Vec::<String>::new()));
    let discarded = Rc::new(RefCell::new(Vec::<String>::new()));
    let record = |into: &Rc<RefCell<Vec<String>>>| {
        let into = into.clone();
        Callback::from(move |id: ClientMsgId| into.borrow_mut().push(id.to_string()))
    };
    let root = render(
        message_list,
        MessageListProps {
            on_retry: record(&retried),
            on_discard: record(&discarded),
            ..list(
                vec![],
                vec![
                    pending("ok-1", None),
                    pending("bad-2", Some("storage failed, try again")),
                ],
            )
        },
    );
    let failed = find(&root, "li.message.failed[data-client-id='bad-2']").await;
    assert!(text(&failed).contains("storage failed, try again"));
    click(&failed.query_selector("button.retry").unwrap().unwrap());
    assert_eq!(*retried.borrow(), ["bad-2"]);
    assert!(discarded.borrow().is_empty());
    click(&failed.query_selector("button.discard").unwrap().unwrap());
    assert_eq!(*discarded.borrow(), ["bad-2"]);
    assert_eq!(*retried.borrow(), ["bad-2"]);
}

#[wasm_bindgen_test]
async fn day_separators_divide_the_messages() {
    let now = js_sys::Date::now() as u64;
    let day = 86_400_000;
    let at = |seq: u64, ts: u64| ChatMessage {
        ts,
        ..chat(seq, "Bob", &format!("message {seq}"))
    };
    let old = 1_700_000_000_000; // November 2023
    let root = render(
        message_list,
        list(
            vec![
                at(1, old),
                at(2, old + 60_000),
                at(3, now - day),
                at(4, now),
            ],
            vec![],
        ),
    );
    find(&root, "li.message[data-seq='4']").await;
    let items = root.query_selector_all("#messages > li").unwrap();
    let rows: Vec<(String, String)> = (0..items.length())
        .map(|i| {
            let li = items.item(i).unwrap().dyn_into::<Element>().unwrap();
            let class = li.get_attribute("class").unwrap_or_default();
            let label = if class == "day-separator" {
                text(&li)
            } else {
                li.get_attribute("data-seq").unwrap_or_default()
            };
            (class, label)
        })
        .collect();
    let today = time::today();
    let old_label = time::day_label(time::day_of(old), today);
    assert!(old_label.contains("November 2023"), "{old_label}");
    let expected = [
        ("day-separator", old_label.as_str()),
        ("message", "1"),
        ("message", "2"),
        ("day-separator", "Yesterday"),
        ("message", "3"),
        ("day-separator", "Today"),
        ("message", "4"),
    ];
    let got: Vec<(&str, &str)> = rows.iter().map(|(c, l)| (c.as_str(), l.as_str())).collect();
    assert_eq!(got, expected);
}

#[wasm_bindgen_test]
async fn history_markers_show_loading_and_the_beginning() {
    let loading = render(
        message_list,
        MessageListProps {
            loading: true,
            has_more: true,
            ..list(vec![chat(5, "Bob", "hi")], vec![])
        },
    );
    find(&loading, "#history-loading").await;
    assert!(loading.query_selector("#history-start").unwrap().is_none());

    let start = render(message_list, list(vec![chat(1, "Bob", "hi")], vec![]));
    let marker = find(&start, "#history-start").await;
    assert!(text(&marker).contains("This is the beginning of #lobby"));
    assert!(start.query_selector("#history-loading").unwrap().is_none());

    let more = render(
        message_list,
        MessageListProps {
            has_more: true,
            ..list(vec![chat(51, "Bob", "hi")], vec![])
        },
    );
    find(&more, "li.message").await;
    assert!(more.query_selector("#history-start").unwrap().is_none());
    assert!(more.query_selector("#history-loading").unwrap().is_none());
}

/// Gives `.timeline` a fixed height so that it scrolls, as style.css does.
fn scrolling_timeline() {
    let document = gloo_document();
    if document.get_element_by_id("test-timeline-style").is_none() {
        let style = document.create_element("style").unwrap();
        style.set_id("test-timeline-style");
        style.set_text_content(Some(
            ".timeline { display: block; height: 200px; overflow-y: auto; }",
        ));
        document.head().unwrap().append_child(&style).unwrap();
    }
}

#[wasm_bindgen_test]
async fn scrolling_to_the_top_asks_for_older_messages() {
    scrolling_timeline();
    let (asked, on_load_older) = counter();
    let messages = (51..=100).map(|seq| chat(seq, "Bob", "hello")).collect();
    let root = render(
        message_list,
        MessageListProps {
            has_more: true,
            on_load_older,
            ..list(messages, vec![])
        },
    );
    // It opens at the newest message, far from the top: nothing asked yet.
    let scroller = wait_for(&root, "section.timeline", |el| el.scroll_top() > 300).await;
    assert_eq!(*asked.borrow(), 0);

    scroller.set_scroll_top(0);
    scroller
        .dispatch_event(&web_sys::Event::new("scroll").unwrap())
        .unwrap();
    assert!(*asked.borrow() >= 1);
}

#[wasm_bindgen_test]
async fn a_short_room_asks_for_older_messages_at_once() {
    scrolling_timeline();
    let (asked, on_load_older) = counter();
    let root = render(
        message_list,
        MessageListProps {
            has_more: true,
            on_load_older,
            ..list(vec![chat(60, "Bob", "only one shown")], vec![])
        },
    );
    find(&root, "li.message").await;
    for _ in 0..100 {
        if *asked.borrow() > 0 {
            break;
        }
        parley_frontend::ui::sleep(Duration::from_millis(10)).await;
    }
    assert!(*asked.borrow() > 0);
}

#[wasm_bindgen_test]
async fn a_conversation_is_marked_as_such_with_its_new_messages_divider() {
    let bob = Channel::Dm(user("Bob"));
    let in_dm = |seq, sender: &str| ChatMessage {
        channel: bob.clone(),
        ..chat(seq, sender, &format!("message {seq}"))
    };
    let root = render(
        message_list,
        MessageListProps {
            channel: bob.clone(),
            divider: Some(3),
            last_read: 2,
            ..list(
                vec![
                    in_dm(1, "Bob"),
                    in_dm(2, "Alice"),
                    in_dm(3, "Bob"),
                    in_dm(4, "Bob"),
                ],
                vec![],
            )
        },
    );
    let ol = find(&root, "ol#messages[data-dm='Bob']").await;
    assert!(ol.get_attribute("data-room").is_none());
    let items = root.query_selector_all("#messages > li").unwrap();
    let rows: Vec<String> = (0..items.length())
        .map(|i| {
            let li: Element = items.item(i).unwrap().dyn_into().unwrap();
            li.get_attribute("data-seq")
                .unwrap_or_else(|| li.get_attribute("class").unwrap())
        })
        .collect();
    assert_eq!(
        rows[1..],
        ["1", "2", "new-messages-divider", "3", "4"].map(String::from)
    );
    let start = find(&root, "#history-start").await;
    assert!(text(&start).contains("your conversation with Bob"));
}

#[wasm_bindgen_test]
async fn what_is_seen_while_reading_is_reported() {
    scrolling_timeline();
    let seen = Rc::new(RefCell::new(Vec::<u64>::new()));
    let on_read = {
        let seen = seen.clone();
        Callback::from(move |seq| seen.borrow_mut().push(seq))
    };
    // Not reading (the page has no focus): nothing reported.
    let idle = render(
        message_list,
        MessageListProps {
            last_read: 1,
            on_read: on_read.clone(),
            ..list(vec![chat(1, "Bob", "one"), chat(2, "Bob", "two")], vec![])
        },
    );
    find(&idle, "li.message[data-seq='2']").await;
    parley_frontend::ui::sleep(Duration::from_millis(50)).await;
    assert!(seen.borrow().is_empty());

    // Reading, everything visible: up to the newest.
    let root = render(
        message_list,
        MessageListProps {
            last_read: 1,
            reading: true,
            on_read,
            ..list(vec![chat(1, "Bob", "one"), chat(2, "Bob", "two")], vec![])
        },
    );
    find(&root, "li.message[data-seq='2']").await;
    for _ in 0..100 {
        if !seen.borrow().is_empty() {
            break;
        }
        parley_frontend::ui::sleep(Duration::from_millis(10)).await;
    }
    // (Possibly more than once: the app ignores a marker it has already.)
    assert!(
        seen.borrow().iter().all(|&seq| seq == 2),
        "{:?}",
        seen.borrow()
    );
}
