//! TEMPORARY size probe: everything but the UI layer and views.
use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

use parley_frontend::connection::{self, Event};
use parley_frontend::state::{Action, AppState};
use parley_frontend::{api, auth, lower, time};
use yew::Reducible;

thread_local! {
    static STATE: RefCell<Rc<AppState>> = RefCell::new(Rc::new(AppState::opening(None)));
}

fn dispatch(action: Action) {
    STATE.with(|s| {
        let cur = s.borrow().clone();
        let next = cur.reduce(action);
        *s.borrow_mut() = next;
    });
    render();
}

fn render() {
    let mut out = String::new();
    STATE.with(|s| {
        let st = s.borrow();
        let _ = write!(
            out,
            "{} {} {}",
            st.conn.as_str(),
            st.pending_count(),
            st.unread_total()
        );
        if let Some(d) = st.conn.detail() {
            out.push_str(&d);
        }
        for chat in st.chats() {
            let _ = write!(
                out,
                "{} {} {}",
                chat.channel,
                chat.unread(),
                chat.peer_online()
            );
            for m in chat.messages.iter() {
                let _ = write!(
                    out,
                    "{} {} {} {}",
                    m.sender,
                    m.body,
                    time::local_hhmm(m.ts),
                    time::day_label(time::day_of(m.ts), time::today())
                );
            }
            for p in chat.polls.iter() {
                let _ = write!(out, "{}", p.id);
            }
        }
        if let Some(p) = &st.auth_problem {
            out.push_str(&p.text);
        }
    });
    if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
        if let Some(body) = doc.body() {
            body.set_text_content(Some(&out));
        }
    }
}

fn main() {
    let input = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    let _ = lower::room_name(&input);
    let _ = lower::poll_spec(&input, &[input.clone()]);
    match auth::validate(auth::AuthMode::Login, &input, &input) {
        Ok(c) => wasm_bindgen_futures::spawn_local(async move {
            let r = api::sign_in(auth::AuthMode::Register, &c).await;
            if let Err(e) = r {
                dispatch(Action::AuthFailed(auth::auth_problem(&e)));
            }
            let _ = api::logout().await;
        }),
        Err(e) => {
            let _ = e;
        }
    }
    wasm_bindgen_futures::spawn_local(async move {
        let me = api::me().await;
        dispatch(match me {
            Ok(me) => Action::SessionChecked(me.map(|m| m.name)),
            Err(_) => Action::DismissError,
        });
        let hello = STATE.with(|s| s.borrow().hello());
        let conn = 1;
        let tx = connection::open(
            hello,
            connection::mode_from_page(),
            Box::new(move |event: Event<'_>| {
                dispatch(match event {
                    Event::Opened(transport) => Action::Opened { conn, transport },
                    Event::Received { msg, at_ms } => Action::Received {
                        conn,
                        msg,
                        now_ms: at_ms,
                    },
                    Event::BadFrame(detail) => Action::BadFrame { conn, detail },
                    Event::Closing => Action::Closing { conn },
                    Event::Refused(why) => Action::ShowError(why.to_string()),
                    Event::Closed { code, reason } => Action::Closed { conn, code, reason },
                    Event::Upgrade => Action::Upgrade { conn },
                    _ => return,
                });
            }),
        );
        let out: Vec<_> =
            STATE.with(|s| s.borrow().outgoing_from(0).map(|o| o.msg.clone()).collect());
        for m in out {
            let _ = tx.unbounded_send(m);
        }
        std::mem::forget(tx);
    });
}
