//! Browser tests: log in / create account.

use super::*;

#[wasm_bindgen_test]
async fn auth_form_checks_fields_before_sending() {
    let submitted = Rc::new(RefCell::new(Vec::<(AuthMode, Credentials)>::new()));
    let on_submit = {
        let submitted = submitted.clone();
        Callback::from(move |sent| submitted.borrow_mut().push(sent))
    };
    let root = render(
        auth_page,
        AuthPageProps {
            busy: false,
            problem: None,
            notice: None,
            on_submit,
            on_edit: Callback::noop(),
        },
    );
    let form = find(&root, "form#auth-form").await;
    assert_eq!(form.get_attribute("data-mode").as_deref(), Some("login"));
    assert_eq!(
        input(&root, "#auth-password")
            .get_attribute("type")
            .as_deref(),
        Some("password")
    );

    // Nothing typed: one error under each field, nothing sent.
    click(&find(&root, "button#auth-submit[type='submit']").await);
    wait_for(&root, "#auth-form", |_| errors(&root).len() == 2).await;
    assert!(
        root.query_selector("#auth-name + .field-error")
            .unwrap()
            .is_some()
    );
    assert!(
        root.query_selector("#auth-password + .field-error")
            .unwrap()
            .is_some()
    );
    assert!(root.query_selector("#auth-error").unwrap().is_none());
    assert!(submitted.borrow().is_empty());

    // Switch to "create account": a weak password is refused under its field.
    click(&find(&root, "button#auth-toggle[type='button']").await);
    wait_for(&root, "#auth-form[data-mode='register']", |_| true).await;
    assert!(errors(&root).is_empty());
    input(&root, "#auth-name").set_value("Alice");
    input(&root, "#auth-password").set_value("password");
    click(&find(&root, "#auth-submit").await);
    wait_for(&root, "#auth-form", |_| errors(&root).len() == 1).await;
    let error = find(&root, "#auth-password + .field-error").await;
    assert!(text(&error).contains("easy to guess"), "{}", text(&error));
    assert!(submitted.borrow().is_empty());

    input(&root, "#auth-password").set_value("correct horse battery");
    click(&find(&root, "#auth-submit").await);
    wait_for(&root, "#auth-form", |_| errors(&root).is_empty()).await;
    let sent = submitted.borrow();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, AuthMode::Register);
    assert_eq!(sent[0].1.name, "Alice");
    assert_eq!(sent[0].1.password, "correct horse battery");
}

#[wasm_bindgen_test]
async fn auth_form_shows_the_servers_answer_where_it_belongs() {
    let page = |problem: AuthProblem| AuthPageProps {
        busy: false,
        problem: Some(problem),
        notice: Some("You were logged out.".into()),
        on_submit: Callback::noop(),
        on_edit: Callback::noop(),
    };
    let root = render(
        auth_page,
        page(AuthProblem::form("Wrong user name or password.")),
    );
    let error = find(&root, "p.field-error#auth-error").await;
    assert_eq!(text(&error), "Wrong user name or password.");
    assert!(text(&root).contains("You were logged out."));

    let root = render(
        auth_page,
        page(AuthProblem::new(
            AuthField::Name,
            "name must not contain ' '",
        )),
    );
    let error = find(&root, "#auth-name + p.field-error").await;
    assert_eq!(text(&error), "name must not contain ' '");
    assert!(root.query_selector("#auth-error").unwrap().is_none());
    assert_eq!(
        input(&root, "#auth-name")
            .get_attribute("aria-invalid")
            .as_deref(),
        Some("true")
    );
}
