//! Browser tests: composer and banner.

use super::*;

#[wasm_bindgen_test]
async fn composer_sends_on_enter_and_keeps_shift_enter() {
    let sent = Rc::new(RefCell::new(Vec::<String>::new()));
    let on_send = {
        let sent = sent.clone();
        Callback::from(move |body: MessageBody| sent.borrow_mut().push(body.to_string()))
    };
    let root = render(
        composer,
        ComposerProps {
            on_send,
            placeholder: "Message #lobby".into(),
            on_typing: Callback::noop(),
        },
    );
    let textarea: HtmlTextAreaElement = find(&root, "form#composer-form textarea#composer")
        .await
        .dyn_into()
        .unwrap();
    let key = |shift: bool| {
        let init = web_sys::KeyboardEventInit::new();
        init.set_key("Enter");
        init.set_shift_key(shift);
        init.set_bubbles(true);
        init.set_cancelable(true);
        KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap()
    };

    // Shift+Enter is left to the browser (a new line): not sent, not prevented.
    textarea.set_value("two\nlines");
    let event = key(true);
    textarea.dispatch_event(&event).unwrap();
    assert!(!event.default_prevented());
    assert!(sent.borrow().is_empty());

    // Enter sends the text as typed and clears the text area.
    let event = key(false);
    textarea.dispatch_event(&event).unwrap();
    assert!(event.default_prevented());
    assert_eq!(*sent.borrow(), ["two\nlines"]);
    assert_eq!(textarea.value(), "");

    // Sending nothing shows an inline error instead.
    click(&find(&root, "button#send[type='submit']").await);
    find(&root, "p.field-error").await;
    assert_eq!(sent.borrow().len(), 1);
}

#[wasm_bindgen_test]
async fn composer_reports_typing_only_with_text() {
    let (typed, on_typing) = counter();
    let root = render(
        composer,
        ComposerProps {
            on_send: Callback::noop(),
            placeholder: "Message #lobby".into(),
            on_typing,
        },
    );
    let textarea: HtmlTextAreaElement = find(&root, "textarea#composer").await.dyn_into().unwrap();
    let edit = |value: &str| {
        textarea.set_value(value);
        let init = web_sys::InputEventInit::new();
        init.set_bubbles(true);
        let event = web_sys::InputEvent::new_with_event_init_dict("input", &init).unwrap();
        textarea.dispatch_event(&event).unwrap();
    };
    edit("h");
    edit("he");
    assert_eq!(*typed.borrow(), 2);
    edit("");
    assert_eq!(*typed.borrow(), 2);
}

#[wasm_bindgen_test]
async fn error_banner_is_dismissable() {
    let (dismissed, on_dismiss) = counter();
    let root = render(
        error_banner,
        ErrorBannerProps {
            notice: Some(Notice {
                code: None,
                text: "<i>something</i> went wrong".into(),
            }),
            on_dismiss,
        },
    );
    let banner = find(&root, "#error-banner").await;
    assert!(text(&banner).contains("<i>something</i> went wrong"));
    click(&banner.query_selector("button").unwrap().unwrap());
    assert_eq!(*dismissed.borrow(), 1);
}
