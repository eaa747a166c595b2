//! Browser tests: presence.

use super::*;

#[wasm_bindgen_test]
async fn typing_indicator_names_who_types() {
    let root = render(
        typing_indicator,
        TypingIndicatorProps {
            names: vec![user("Bob"), user("Carol")],
        },
    );
    let el = find(&root, "#typing-indicator").await;
    assert!(
        text(&el).contains("Bob and Carol are typing"),
        "{}",
        text(&el)
    );
    let root = render(typing_indicator, TypingIndicatorProps { names: vec![] });
    let el = find(&root, "#typing-indicator").await;
    assert_eq!(text(&el), "");
}

#[wasm_bindgen_test]
async fn online_users_are_listed_by_name() {
    let root = render(
        online_users,
        OnlineUsersProps {
            users: Rc::new(vec![user("Alice"), user("Bob"), user("Carol")]),
            total: 3,
            me: Some(user("Alice")),
        },
    );
    find(&root, "#online-users").await;
    let found = root
        .query_selector_all("#online-users .online-user")
        .unwrap();
    let names: Vec<String> = (0..found.length())
        .map(|i| {
            text(&found.item(i).unwrap().dyn_into::<Element>().unwrap())
                .trim()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["Alice", "Bob", "Carol"]);
    assert!(text(&root).contains("3 online"));

    // A busy room lists only the first ones; the count is everyone.
    let root = render(
        online_users,
        OnlineUsersProps {
            users: Rc::new(vec![user("Alice"), user("Bob")]),
            total: 250,
            me: Some(user("Alice")),
        },
    );
    let count = find(&root, "#online-users .online-count").await;
    assert_eq!(text(&count), "250 online");
}
