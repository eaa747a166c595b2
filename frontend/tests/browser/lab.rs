//! Browser tests: the transport lab's page.

use super::*;

#[wasm_bindgen_test]
async fn the_lab_page_says_when_the_server_cannot_be_reached() {
    // The test runner's server has no `/api/me`: the lab's page cannot tell
    // whether there is a session, so it offers the log-in form and says why.
    let root = render(lab_app, ());
    let notice = wait_for_long(&root, "p.auth-notice", |_| true).await;
    assert_eq!(
        text(&notice),
        "Cannot reach the server. Reload the page to try again."
    );
    find(&root, "form input#auth-name").await;
    assert!(root.query_selector("#lab-start").unwrap().is_none());
}
