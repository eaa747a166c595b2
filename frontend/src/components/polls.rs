//! A room's live polls: the collapsible panel above the messages, each poll's
//! bars (plain CSS: a span's width is the option's share), voting and closing,
//! and the new-poll form with its checks.

use std::rc::Rc;

use parley_common::{MAX_OPTIONS, MIN_OPTIONS, PollProblem, PollSpec, RoomName};
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::context::use_app;
use crate::state::{Action, Poll, leaders, percent, votes};
use crate::time::{local_hhmm, now_ms};

/// Longest time a new poll can stay open by itself: a week, in minutes.
pub const MAX_POLL_MINUTES: u32 = 7 * 24 * 60;

/// What the form says about a new poll the rules refuse.
pub fn poll_problem_text(problem: PollProblem) -> &'static str {
    match problem {
        PollProblem::EmptyQuestion => "Write a question.",
        PollProblem::QuestionTooLong => "The question is longer than 200 characters.",
        PollProblem::TooFewOptions => "A poll needs at least 2 options.",
        PollProblem::TooManyOptions => "A poll has at most 10 options.",
        PollProblem::EmptyOption => "An option is empty.",
        PollProblem::OptionTooLong => "An option is longer than 80 characters.",
        PollProblem::DuplicateOption => "Two options are the same.",
        PollProblem::ControlCharacter => "The poll contains a control character.",
    }
}

/// Which of the new-poll form's fields a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollField {
    Question,
    Options,
    Minutes,
}

impl PollField {
    fn of(problem: PollProblem) -> Self {
        match problem {
            PollProblem::EmptyQuestion | PollProblem::QuestionTooLong => Self::Question,
            PollProblem::TooFewOptions
            | PollProblem::TooManyOptions
            | PollProblem::EmptyOption
            | PollProblem::OptionTooLong
            | PollProblem::DuplicateOption
            | PollProblem::ControlCharacter => Self::Options,
        }
    }
}

/// The form's fields as a new poll: blank option fields are left out. The
/// minutes are optional (blank: the poll stays open until closed).
pub fn new_poll_from(
    question: &str,
    options: &[String],
    minutes: &str,
) -> Result<(PollSpec, Option<u32>), (PollField, &'static str)> {
    let filled: Vec<String> = options
        .iter()
        .filter(|o| !o.trim().is_empty())
        .cloned()
        .collect();
    let spec = crate::lower::poll_spec(question, &filled)
        .map_err(|p| (PollField::of(p), poll_problem_text(p)))?;
    let minutes = match minutes.trim() {
        "" => None,
        m => match m.parse::<u32>() {
            Ok(n) if (1..=MAX_POLL_MINUTES).contains(&n) => Some(n),
            _ => {
                return Err((
                    PollField::Minutes,
                    "Closes in: a whole number of minutes, 1 to 10080 (a week).",
                ));
            }
        },
    };
    Ok((spec, minutes))
}

#[derive(Properties, PartialEq)]
pub struct PollsPanelProps {
    pub room: RoomName,
    /// Newest first.
    pub polls: Rc<Vec<Poll>>,
    /// The room's list is on its way.
    #[prop_or_default]
    pub loading: bool,
    /// The new-poll form is open.
    #[prop_or_default]
    pub form_open: bool,
    /// A new poll of this tab is on its way.
    #[prop_or_default]
    pub form_busy: bool,
    /// Why the server refused the last new poll.
    #[prop_or_default]
    pub form_error: Option<String>,
    /// Starts expanded (else only the header shows).
    #[prop_or(true)]
    pub expanded: bool,
}

/// What the user does here becomes an [`Action`] for the app (through
/// [`AppContext`]): opening or closing the form, creating a poll, voting,
/// closing one's own poll.
#[component]
pub fn PollsPanel(props: &PollsPanelProps) -> Html {
    let app = use_app();
    let on_form = app.act.reform(Action::NewPollForm);
    let on_create = {
        let room = props.room.clone();
        app.act.reform(
            move |(spec, minutes): (PollSpec, Option<u32>)| Action::CreatePoll {
                room: room.clone(),
                spec,
                closes_at: minutes
                    .map(|m| now_ms().saturating_add(u64::from(m).saturating_mul(60_000))),
            },
        )
    };
    let expanded = use_state(|| props.expanded);
    let open_polls = props.polls.iter().filter(|p| !p.tally.closed).count();
    let toggle = {
        let expanded = expanded.clone();
        Callback::from(move |_: MouseEvent| expanded.set(!*expanded))
    };
    let new_poll = {
        let on_form = on_form.clone();
        let expanded = expanded.clone();
        let open = props.form_open;
        Callback::from(move |_: MouseEvent| {
            expanded.set(true);
            on_form.emit(!open);
        })
    };
    // "1 open · 1" read like a typo: say what each number counts.
    let summary = match (open_polls, props.polls.len().saturating_sub(open_polls)) {
        (0, 0) => String::new(),
        (0, closed) => format!("{closed} closed"),
        (open, 0) => format!("{open} open"),
        (open, closed) => format!("{open} open · {closed} closed"),
    };
    let show_body = *expanded || props.form_open;
    let polls = props.polls.iter().map(|poll| {
        html! {
            <PollCard key={poll.id} poll={poll.clone()} />
        }
    });
    html! {
        <section id="polls" class={classes!("polls", show_body.then_some("expanded"), props.form_open.then_some("form-open"))} aria-label={format!("Polls in #{}", props.room)}>
            <div class="polls-head">
                <button type="button" class="polls-toggle" onclick={toggle}
                    aria-expanded={show_body.to_string()} aria-controls="polls-body">
                    <svg class="chevron" viewBox="0 0 20 20" width="14" height="14" aria-hidden="true">
                        <path d="M7 5l5 5-5 5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />
                    </svg>
                    <span class="polls-title">{ "Polls" }</span>
                    if !summary.is_empty() {
                        <span class="polls-count">{ summary }</span>
                    }
                </button>
                <button type="button" id="new-poll" class="small" onclick={new_poll}
                    aria-expanded={props.form_open.to_string()} aria-controls="new-poll-form">
                    { if props.form_open { "Cancel" } else { "New poll" } }
                </button>
            </div>
            if show_body {
                <div id="polls-body" class="polls-body">
                    if props.form_open {
                        <NewPollForm
                            key={props.room.to_string()}
                            busy={props.form_busy}
                            error={props.form_error.clone()}
                            {on_create}
                            on_cancel={on_form.reform(|()| false)}
                            on_edit={app.act.reform(|()| Action::NewPollEdited)}
                        />
                    }
                    if props.polls.is_empty() && !props.form_open {
                        <p class="polls-empty">
                            if props.loading { { "Loading polls…" } } else { { "No polls in this room yet." } }
                        </p>
                    }
                    <div class="poll-list">{ for polls }</div>
                </div>
            }
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct PollCardProps {
    pub poll: Poll,
}

/// One poll: its question, a bar per option, who voted, and what the user can
/// do (vote, and close it if they created it: [`Action`]s through
/// [`AppContext`]).
#[component]
pub fn PollCard(props: &PollCardProps) -> Html {
    let app = use_app();
    let poll = &props.poll;
    let tally = &poll.tally;
    let closed = tally.closed;
    let total = votes(tally);
    let winners = if closed { leaders(tally) } else { Vec::new() };
    let mine_creator = app.is_me(&poll.creator);
    let options = poll.options.iter().enumerate().map(|(i, label)| {
        let count = tally.counts.get(i).copied().unwrap_or(0);
        let pct = percent(count, total);
        let option = u32::try_from(i).unwrap_or(u32::MAX);
        let mine = poll.my_vote == Some(option);
        let winner = winners.contains(&i);
        let id = poll.id;
        let onclick = app.act.reform(move |_: MouseEvent| Action::Vote { poll: id, option });
        let title = match (closed, mine) {
            (true, true) => "Your vote".to_owned(),
            (true, false) => String::new(),
            (false, true) => "Your vote".to_owned(),
            (false, false) => format!("Vote for {label}"),
        };
        html! {
            <li>
                <button type="button"
                    class={classes!("poll-option", mine.then_some("mine"), winner.then_some("winner"))}
                    data-option={i.to_string()}
                    aria-pressed={mine.to_string()}
                    disabled={closed}
                    title={(!title.is_empty()).then_some(title)}
                    {onclick}>
                    <span class="poll-option-row">
                        <span class="poll-option-label">{ label }</span>
                        if mine {
                            <span class="poll-mine-mark">{ "Your vote" }</span>
                        }
                        if winner {
                            <span class="poll-winner-mark">{ if winners.len() > 1 { "Tie" } else { "Winner" } }</span>
                        }
                        <span class="poll-numbers">
                            <span class="poll-count">{ count }</span>
                            <span class="poll-percent">{ format!("{pct}%") }</span>
                        </span>
                    </span>
                    <span class="poll-track" aria-hidden="true">
                        <span class="poll-bar" style={format!("width: {pct}%")}></span>
                    </span>
                </button>
            </li>
        }
    });
    let result = closed.then(|| match winners.as_slice() {
        [] => "Closed with no votes.".to_owned(),
        [one] => format!(
            "Result: {} wins with {}%.",
            poll.options.get(*one).map_or("?", String::as_str),
            percent(tally.counts[*one], total)
        ),
        tie => format!(
            "Result: a tie between {}.",
            tie.iter()
                .filter_map(|&i| poll.options.get(i).map(String::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    let close = {
        let id = poll.id;
        app.act.reform(move |_: MouseEvent| Action::ClosePoll(id))
    };
    let heading = format!("poll-q-{}", poll.id);
    html! {
        <article class={classes!("poll", closed.then_some("closed"))} data-poll={poll.id.to_string()} aria-labelledby={heading.clone()}>
            <header class="poll-head">
                <h3 class="poll-question" id={heading}>{ &poll.question }</h3>
                if closed {
                    <span class="poll-state closed">{ "Closed" }</span>
                } else {
                    <span class="poll-state open">{ "Open" }</span>
                }
            </header>
            <p class="poll-meta">
                <span class="poll-creator">{ format!("by {}", poll.creator) }</span>
                if let (Some(at), false) = (poll.closes_at, closed) {
                    <span class="poll-closes">{ format!("closes at {}", local_hhmm(at)) }</span>
                }
            </p>
            <ul class="poll-options">{ for options }</ul>
            <footer class="poll-foot">
                <span class="poll-total">
                    <span class="poll-voters">{ tally.voters }</span>
                    { if tally.voters == 1 { " voter" } else { " voters" } }
                </span>
                if let Some(result) = result {
                    <span class="poll-result">{ result }</span>
                } else if poll.my_vote.is_some() {
                    <span class="poll-hint">{ "Pick another option to change your vote." }</span>
                } else {
                    <span class="poll-hint">{ "Pick an option to vote." }</span>
                }
                if mine_creator && !closed {
                    <button type="button" class="poll-close small" onclick={close}>{ "Close poll" }</button>
                }
            </footer>
        </article>
    }
}

#[derive(Properties, PartialEq)]
pub struct NewPollFormProps {
    #[prop_or_default]
    pub busy: bool,
    /// The server's complaint about the last attempt.
    #[prop_or_default]
    pub error: Option<String>,
    pub on_create: Callback<(PollSpec, Option<u32>)>,
    pub on_cancel: Callback<()>,
    #[prop_or_default]
    pub on_edit: Callback<()>,
}

fn input_value(e: &InputEvent) -> String {
    e.target()
        .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        .map(|i| i.value())
        .unwrap_or_default()
}

/// A question, 2–10 options (fields can be added and removed) and an optional
/// closing time, checked with the server's rules before anything is sent.
#[component]
pub fn NewPollForm(props: &NewPollFormProps) -> Html {
    let question = use_state(String::new);
    let options = use_state(|| vec![String::new(); MIN_OPTIONS]);
    let minutes = use_state(String::new);
    let local_error = use_state(|| None::<(PollField, &'static str)>);

    let edited = {
        let local_error = local_error.clone();
        let on_edit = props.on_edit.clone();
        move || {
            local_error.set(None);
            on_edit.emit(());
        }
    };
    let on_question = {
        let question = question.clone();
        let edited = edited.clone();
        Callback::from(move |e: InputEvent| {
            question.set(input_value(&e));
            edited();
        })
    };
    let on_minutes = {
        let minutes = minutes.clone();
        let edited = edited.clone();
        Callback::from(move |e: InputEvent| {
            minutes.set(input_value(&e));
            edited();
        })
    };
    let add = {
        let options = options.clone();
        let edited = edited.clone();
        Callback::from(move |_: MouseEvent| {
            if options.len() < MAX_OPTIONS {
                let mut list = (*options).clone();
                list.push(String::new());
                options.set(list);
                edited();
            }
        })
    };
    let onsubmit = {
        let (question, options, minutes) = (question.clone(), options.clone(), minutes.clone());
        let local_error = local_error.clone();
        let on_create = props.on_create.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            match new_poll_from(&question, &options, &minutes) {
                Ok(poll) => on_create.emit(poll),
                Err(problem) => local_error.set(Some(problem)),
            }
        })
    };
    let cancel = props.on_cancel.reform(|_: MouseEvent| ());
    let error: Option<String> = (*local_error)
        .map(|(_, text)| text.to_owned())
        .or_else(|| props.error.clone());
    // The field a local problem is about; the server's complaints name none.
    let field = (*local_error).map(|(field, _)| field);
    let invalid = |f: PollField| (field == Some(f)).to_string();
    let described = |f: PollField| (field == Some(f)).then_some("poll-error");
    let count = options.len();
    let fields = options.iter().enumerate().map(|(i, value)| {
        let oninput = {
            let options = options.clone();
            let edited = edited.clone();
            Callback::from(move |e: InputEvent| {
                let mut list = (*options).clone();
                if let Some(slot) = list.get_mut(i) {
                    *slot = input_value(&e);
                }
                options.set(list);
                edited();
            })
        };
        let remove = {
            let options = options.clone();
            let edited = edited.clone();
            Callback::from(move |_: MouseEvent| {
                let mut list = (*options).clone();
                if list.len() > MIN_OPTIONS && i < list.len() {
                    list.remove(i);
                    options.set(list);
                    edited();
                }
            })
        };
        let n = i + 1;
        html! {
            <li class="poll-option-field">
                <input class="poll-option-input" type="text" value={value.clone()}
                    maxlength="80" autocomplete="off" placeholder={format!("Option {n}")}
                    aria-label={format!("Option {n}")} aria-invalid={invalid(PollField::Options)}
                    aria-describedby={described(PollField::Options)} {oninput} />
                if count > MIN_OPTIONS {
                    <button type="button" class="icon-button poll-remove-option" onclick={remove}
                        aria-label={format!("Remove option {n}")} title={format!("Remove option {n}")}>
                        <svg viewBox="0 0 20 20" width="14" height="14" aria-hidden="true">
                            <path d="M5 5l10 10M15 5L5 15" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
                        </svg>
                    </button>
                }
            </li>
        }
    });
    html! {
        <form id="new-poll-form" class="new-poll card" {onsubmit} novalidate=true aria-busy={props.busy.to_string()}>
            <label for="poll-question" class="new-poll-label">{ "Question" }</label>
            <input id="poll-question" type="text" value={(*question).clone()} maxlength="200"
                autocomplete="off" placeholder="What should we ask?" aria-invalid={invalid(PollField::Question)}
                aria-describedby={described(PollField::Question)} oninput={on_question} />
            <span class="new-poll-label">{ format!("Options ({count} of up to {MAX_OPTIONS})") }</span>
            <ol class="poll-option-fields">{ for fields }</ol>
            <div class="new-poll-row">
                <button type="button" id="poll-add-option" class="small" onclick={add}
                    disabled={count >= MAX_OPTIONS}>{ "+ Add option" }</button>
                <label class="poll-minutes">
                    { "Closes in" }
                    <input id="poll-minutes" type="number" inputmode="numeric" min="1" max="10080"
                        value={(*minutes).clone()} placeholder="—" aria-invalid={invalid(PollField::Minutes)}
                        aria-describedby={described(PollField::Minutes)} oninput={on_minutes} />
                    { "minutes" }
                </label>
            </div>
            if let Some(text) = &error {
                <p class="field-error" id="poll-error" role="alert">{ text }</p>
            }
            <div class="new-poll-actions">
                <button type="button" class="link" onclick={cancel}>{ "Cancel" }</button>
                <button type="submit" id="poll-submit" class="primary" disabled={props.busy}>
                    { if props.busy { "Creating…" } else { "Create poll" } }
                </button>
            </div>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn blank_option_fields_are_left_out_and_minutes_are_checked() {
        let (spec, minutes) = new_poll_from("Lunch?", &opts(&["Pizza", " ", "Sushi"]), "").unwrap();
        assert_eq!(spec.options(), ["Pizza", "Sushi"]);
        assert_eq!(minutes, None);
        assert_eq!(
            new_poll_from("Lunch?", &opts(&["Pizza", ""]), ""),
            Err((PollField::Options, "A poll needs at least 2 options."))
        );
        assert_eq!(
            new_poll_from("Lunch?", &opts(&["Pizza", "pizza "]), ""),
            Err((PollField::Options, "Two options are the same."))
        );
        assert_eq!(
            new_poll_from("Lunch?", &opts(&["a", "b"]), " 15 ")
                .unwrap()
                .1,
            Some(15)
        );
        assert!(new_poll_from("Lunch?", &opts(&["a", "b"]), "0").is_err());
        assert!(new_poll_from("Lunch?", &opts(&["a", "b"]), "soon").is_err());
        assert_eq!(
            new_poll_from(" ", &opts(&["a", "b"]), ""),
            Err((PollField::Question, "Write a question."))
        );
    }
}
