//! A room's live polls: the collapsible panel above the messages, each poll's
//! bars (plain CSS: a span's width is the option's share), voting and closing,
//! and the new-poll form with its checks.

use std::rc::Rc;

use parley_common::{MAX_OPTIONS, MIN_OPTIONS, PollProblem, PollSpec, RoomName, Username};
use wasm_bindgen::JsCast;
use web_sys::{HtmlInputElement, InputEvent, MouseEvent};

use super::{icon, stroke_path};
use crate::state::{Poll, leaders, percent, same_user, votes};
use crate::time::local_hhmm;
use crate::ui::{
    Callback, Html, Node, Reducible, classes, comp_keyed, h, use_reducer, use_state, when,
};

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

#[derive(Clone, PartialEq)]
pub struct PollsPanelProps {
    pub room: RoomName,
    /// Newest first.
    pub polls: Rc<Vec<Poll>>,
    pub me: Option<Username>,
    /// The room's list is on its way.
    pub loading: bool,
    /// The new-poll form is open.
    pub form_open: bool,
    /// A new poll of this tab is on its way.
    pub form_busy: bool,
    /// Why the server refused the last new poll.
    pub form_error: Option<String>,
    /// Starts expanded (else only the header shows).
    pub expanded: bool,
    /// Vote: (poll, option).
    pub on_vote: Callback<(u64, u32)>,
    pub on_close: Callback<u64>,
    /// Open (`true`) or close the new-poll form.
    pub on_form: Callback<bool>,
    /// A valid new poll, and in how many minutes it closes by itself.
    pub on_create: Callback<(PollSpec, Option<u32>)>,
    /// The form was edited (hides the server's complaint).
    pub on_form_edit: Callback<()>,
}

pub fn polls_panel(props: &PollsPanelProps) -> Html {
    let expanded = use_state(|| props.expanded);
    let open_polls = props.polls.iter().filter(|p| !p.tally.closed).count();
    let toggle = {
        let expanded = expanded.clone();
        Callback::from(move |_: MouseEvent| expanded.set(!*expanded))
    };
    let new_poll = {
        let on_form = props.on_form.clone();
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
    let body = show_body.then(|| {
        let polls = props
            .polls
            .iter()
            .map(|poll| {
                comp_keyed(
                    poll.id.to_string(),
                    poll_card,
                    PollCardProps {
                        poll: poll.clone(),
                        me: props.me.clone(),
                        on_vote: props.on_vote.clone(),
                        on_close: props.on_close.clone(),
                    },
                )
            })
            .collect::<Node>();
        let form = props.form_open.then(|| {
            comp_keyed(
                props.room.to_string(),
                new_poll_form,
                NewPollFormProps {
                    busy: props.form_busy,
                    error: props.form_error.clone(),
                    on_create: props.on_create.clone(),
                    on_cancel: props.on_form.reform(|()| false),
                    on_edit: props.on_form_edit.clone(),
                },
            )
        });
        let empty = (props.polls.is_empty() && !props.form_open).then(|| {
            h("p").class("polls-empty").text(if props.loading {
                "Loading polls…"
            } else {
                "No polls in this room yet."
            })
        });
        h("div")
            .id("polls-body")
            .class("polls-body")
            .child(form)
            .child(empty)
            .child(h("div").class("poll-list").child(polls))
    });
    h("section")
        .id("polls")
        .class(classes(&[
            "polls",
            when(show_body, "expanded"),
            when(props.form_open, "form-open"),
        ]))
        .attr("aria-label", format!("Polls in #{}", props.room))
        .child(
            h("div")
                .class("polls-head")
                .child(
                    h("button")
                        .attr("type", "button")
                        .class("polls-toggle")
                        .onclick(toggle)
                        .attr("aria-expanded", show_body.to_string())
                        .attr("aria-controls", "polls-body")
                        .child(
                            icon("0 0 20 20", "14").class("chevron").child(
                                stroke_path("M7 5l5 5-5 5", "2")
                                    .attr("fill", "none")
                                    .attr("stroke-linejoin", "round"),
                            ),
                        )
                        .child(h("span").class("polls-title").text("Polls"))
                        .child(
                            (!summary.is_empty())
                                .then(|| h("span").class("polls-count").text(summary)),
                        ),
                )
                .child(
                    h("button")
                        .attr("type", "button")
                        .id("new-poll")
                        .class("small")
                        .onclick(new_poll)
                        .attr("aria-expanded", props.form_open.to_string())
                        .attr("aria-controls", "new-poll-form")
                        .text(if props.form_open {
                            "Cancel"
                        } else {
                            "New poll"
                        }),
                ),
        )
        .child(body)
        .into()
}

#[derive(Clone, PartialEq)]
pub struct PollCardProps {
    pub poll: Poll,
    pub me: Option<Username>,
    pub on_vote: Callback<(u64, u32)>,
    pub on_close: Callback<u64>,
}

/// One poll: its question, a bar per option, who voted, and what the user can do.
pub fn poll_card(props: &PollCardProps) -> Html {
    let poll = &props.poll;
    let tally = &poll.tally;
    let closed = tally.closed;
    let total = votes(tally);
    let winners = if closed { leaders(tally) } else { Vec::new() };
    let mine_creator = props
        .me
        .as_ref()
        .is_some_and(|me| same_user(me, &poll.creator));
    let options = poll.options.iter().enumerate().map(|(i, label)| {
        let count = tally.counts.get(i).copied().unwrap_or(0);
        let pct = percent(count, total);
        let option = u32::try_from(i).unwrap_or(u32::MAX);
        let mine = poll.my_vote == Some(option);
        let winner = winners.contains(&i);
        let onclick = {
            let on_vote = props.on_vote.clone();
            let id = poll.id;
            Callback::from(move |_: MouseEvent| on_vote.emit((id, option)))
        };
        let title = match (closed, mine) {
            (true, true) => "Your vote".to_owned(),
            (true, false) => String::new(),
            (false, true) => "Your vote".to_owned(),
            (false, false) => format!("Vote for {label}"),
        };
        Node::from(
            h("li").child(
                h("button")
                    .attr("type", "button")
                    .class(classes(&[
                        "poll-option",
                        when(mine, "mine"),
                        when(winner, "winner"),
                    ]))
                    .attr("data-option", i.to_string())
                    .attr("aria-pressed", mine.to_string())
                    .flag("disabled", closed)
                    .attr_opt("title", (!title.is_empty()).then_some(title))
                    .onclick(onclick)
                    .child(
                        h("span")
                            .class("poll-option-row")
                            .child(h("span").class("poll-option-label").text(label.clone()))
                            .child(
                                mine.then(|| h("span").class("poll-mine-mark").text("Your vote")),
                            )
                            .child(winner.then(|| {
                                h("span")
                                    .class("poll-winner-mark")
                                    .text(if winners.len() > 1 { "Tie" } else { "Winner" })
                            }))
                            .child(
                                h("span")
                                    .class("poll-numbers")
                                    .child(h("span").class("poll-count").text(count.to_string()))
                                    .child(h("span").class("poll-percent").text(format!("{pct}%"))),
                            ),
                    )
                    .child(
                        h("span")
                            .class("poll-track")
                            .attr("aria-hidden", "true")
                            .child(
                                h("span")
                                    .class("poll-bar")
                                    .attr("style", format!("width: {pct}%")),
                            ),
                    ),
            ),
        )
    });
    let result = closed.then(|| match winners.as_slice() {
        [] => "Closed with no votes.".to_owned(),
        [one] => format!(
            "Result: {} wins with {}%.",
            poll.options.get(*one).map_or("?", String::as_str),
            percent(tally.counts.get(*one).copied().unwrap_or(0), total)
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
        let on_close = props.on_close.clone();
        let id = poll.id;
        Callback::from(move |_: MouseEvent| on_close.emit(id))
    };
    let heading = format!("poll-q-{}", poll.id);
    let state = if closed {
        h("span").class("poll-state closed").text("Closed")
    } else {
        h("span").class("poll-state open").text("Open")
    };
    let closes = match (poll.closes_at, closed) {
        (Some(at), false) => Some(
            h("span")
                .class("poll-closes")
                .text(format!("closes at {}", local_hhmm(at))),
        ),
        _ => None,
    };
    let outcome = if let Some(result) = result {
        h("span").class("poll-result").text(result)
    } else if poll.my_vote.is_some() {
        h("span")
            .class("poll-hint")
            .text("Pick another option to change your vote.")
    } else {
        h("span").class("poll-hint").text("Pick an option to vote.")
    };
    h("article")
        .class(classes(&["poll", when(closed, "closed")]))
        .attr("data-poll", poll.id.to_string())
        .attr("aria-labelledby", heading.clone())
        .child(
            h("header")
                .class("poll-head")
                .child(
                    h("h3")
                        .class("poll-question")
                        .attr("id", heading)
                        .text(poll.question.clone()),
                )
                .child(state),
        )
        .child(
            h("p")
                .class("poll-meta")
                .child(
                    h("span")
                        .class("poll-creator")
                        .text(format!("by {}", poll.creator)),
                )
                .child(closes),
        )
        .child(
            h("ul")
                .class("poll-options")
                .child(options.collect::<Node>()),
        )
        .child(
            h("footer")
                .class("poll-foot")
                .child(
                    h("span")
                        .class("poll-total")
                        .child(
                            h("span")
                                .class("poll-voters")
                                .text(tally.voters.to_string()),
                        )
                        .text(if tally.voters == 1 {
                            " voter"
                        } else {
                            " voters"
                        }),
                )
                .child(outcome)
                .child((mine_creator && !closed).then(|| {
                    h("button")
                        .attr("type", "button")
                        .class("poll-close small")
                        .onclick(close)
                        .text("Close poll")
                })),
        )
        .into()
}

#[derive(Clone, PartialEq)]
pub struct NewPollFormProps {
    pub busy: bool,
    /// The server's complaint about the last attempt.
    pub error: Option<String>,
    pub on_create: Callback<(PollSpec, Option<u32>)>,
    pub on_cancel: Callback<()>,
    pub on_edit: Callback<()>,
}

fn input_value(e: &InputEvent) -> String {
    e.target()
        .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        .map(|i| i.value())
        .unwrap_or_default()
}

/// The new-poll form's fields, and the problem found by the last submit.
///
/// One reducer rather than a state per field: a change applies to the fields as
/// they are now, and a submit reads them as they are now, even when several
/// events arrive before the next render (renders wait for the current task).
#[derive(Clone)]
struct FormFields {
    question: String,
    options: Vec<String>,
    minutes: String,
    problem: Option<(PollField, &'static str)>,
}

enum FormChange {
    Question(String),
    Option(usize, String),
    Minutes(String),
    AddOption,
    RemoveOption(usize),
    Problem((PollField, &'static str)),
}

impl Reducible for FormFields {
    type Action = FormChange;

    fn reduce(self: Rc<Self>, change: FormChange) -> Rc<Self> {
        let mut form = (*self).clone();
        match change {
            FormChange::Question(text) => form.question = text,
            FormChange::Option(i, text) => {
                if let Some(slot) = form.options.get_mut(i) {
                    *slot = text;
                }
            }
            FormChange::Minutes(text) => form.minutes = text,
            FormChange::AddOption => form.options.push(String::new()),
            FormChange::RemoveOption(i) => {
                if i < form.options.len() {
                    form.options.remove(i);
                }
            }
            FormChange::Problem(problem) => {
                form.problem = Some(problem);
                return Rc::new(form);
            }
        }
        // An edit hides the last problem.
        form.problem = None;
        Rc::new(form)
    }
}

/// A question, 2–10 options (fields can be added and removed) and an optional
/// closing time, checked with the server's rules before anything is sent.
pub fn new_poll_form(props: &NewPollFormProps) -> Html {
    let form = use_reducer(|| FormFields {
        question: String::new(),
        options: vec![String::new(); MIN_OPTIONS],
        minutes: String::new(),
        problem: None,
    });
    let fields_now = form.dispatcher();

    let edit = {
        let fields_now = fields_now.clone();
        let on_edit = props.on_edit.clone();
        move |change: FormChange| {
            fields_now.dispatch(change);
            on_edit.emit(());
        }
    };
    let on_question = {
        let edit = edit.clone();
        Callback::from(move |e: InputEvent| edit(FormChange::Question(input_value(&e))))
    };
    let on_minutes = {
        let edit = edit.clone();
        Callback::from(move |e: InputEvent| edit(FormChange::Minutes(input_value(&e))))
    };
    let add = {
        let fields_now = fields_now.clone();
        let edit = edit.clone();
        Callback::from(move |_: MouseEvent| {
            if fields_now.state().options.len() < MAX_OPTIONS {
                edit(FormChange::AddOption);
            }
        })
    };
    let onsubmit = {
        let fields_now = fields_now.clone();
        let on_create = props.on_create.clone();
        // The browser's own submission is prevented by `onsubmit`.
        Callback::from(move |()| {
            let now = fields_now.state();
            match new_poll_from(&now.question, &now.options, &now.minutes) {
                Ok(poll) => on_create.emit(poll),
                Err(problem) => fields_now.dispatch(FormChange::Problem(problem)),
            }
        })
    };
    let cancel = props.on_cancel.reform(|_: MouseEvent| ());
    let error: Option<String> = form
        .problem
        .map(|(_, text)| text.to_owned())
        .or_else(|| props.error.clone());
    // The field a local problem is about; the server's complaints name none.
    let field = form.problem.map(|(field, _)| field);
    let invalid = |f: PollField| (field == Some(f)).to_string();
    let described = |f: PollField| (field == Some(f)).then_some("poll-error");
    let count = form.options.len();
    let fields = form.options.iter().enumerate().map(|(i, value)| {
        let oninput = {
            let edit = edit.clone();
            Callback::from(move |e: InputEvent| edit(FormChange::Option(i, input_value(&e))))
        };
        let remove = {
            let fields_now = fields_now.clone();
            let edit = edit.clone();
            Callback::from(move |_: MouseEvent| {
                let len = fields_now.state().options.len();
                if len > MIN_OPTIONS && i < len {
                    edit(FormChange::RemoveOption(i));
                }
            })
        };
        let n = i + 1;
        Node::from(
            h("li")
                .class("poll-option-field")
                .child(
                    h("input")
                        .class("poll-option-input")
                        .attr("type", "text")
                        .value(value.clone())
                        .attr("maxlength", "80")
                        .attr("autocomplete", "off")
                        .attr("placeholder", format!("Option {n}"))
                        .attr("aria-label", format!("Option {n}"))
                        .attr("aria-invalid", invalid(PollField::Options))
                        .attr_opt("aria-describedby", described(PollField::Options))
                        .oninput(oninput),
                )
                .child((count > MIN_OPTIONS).then(|| {
                    h("button")
                        .attr("type", "button")
                        .class("icon-button poll-remove-option")
                        .onclick(remove)
                        .attr("aria-label", format!("Remove option {n}"))
                        .attr("title", format!("Remove option {n}"))
                        .child(
                            icon("0 0 20 20", "14").child(stroke_path("M5 5l10 10M15 5L5 15", "2")),
                        )
                })),
        )
    });
    h("form")
        .id("new-poll-form")
        .class("new-poll card")
        .onsubmit(onsubmit)
        .flag("novalidate", true)
        .attr("aria-busy", props.busy.to_string())
        .child(
            h("label")
                .attr("for", "poll-question")
                .class("new-poll-label")
                .text("Question"),
        )
        .child(
            h("input")
                .id("poll-question")
                .attr("type", "text")
                .value(form.question.clone())
                .attr("maxlength", "200")
                .attr("autocomplete", "off")
                .attr("placeholder", "What should we ask?")
                .attr("aria-invalid", invalid(PollField::Question))
                .attr_opt("aria-describedby", described(PollField::Question))
                .oninput(on_question),
        )
        .child(
            h("span")
                .class("new-poll-label")
                .text(format!("Options ({count} of up to {MAX_OPTIONS})")),
        )
        .child(
            h("ol")
                .class("poll-option-fields")
                .child(fields.collect::<Node>()),
        )
        .child(
            h("div")
                .class("new-poll-row")
                .child(
                    h("button")
                        .attr("type", "button")
                        .id("poll-add-option")
                        .class("small")
                        .onclick(add)
                        .flag("disabled", count >= MAX_OPTIONS)
                        .text("+ Add option"),
                )
                .child(
                    h("label")
                        .class("poll-minutes")
                        .text("Closes in")
                        .child(
                            h("input")
                                .id("poll-minutes")
                                .attr("type", "number")
                                .attr("inputmode", "numeric")
                                .attr("min", "1")
                                .attr("max", "10080")
                                .value(form.minutes.clone())
                                .attr("placeholder", "—")
                                .attr("aria-invalid", invalid(PollField::Minutes))
                                .attr_opt("aria-describedby", described(PollField::Minutes))
                                .oninput(on_minutes),
                        )
                        .text("minutes"),
                ),
        )
        .child(error.map(|text| {
            h("p")
                .class("field-error")
                .id("poll-error")
                .attr("role", "alert")
                .text(text)
        }))
        .child(
            h("div")
                .class("new-poll-actions")
                .child(
                    h("button")
                        .attr("type", "button")
                        .class("link")
                        .onclick(cancel)
                        .text("Cancel"),
                )
                .child(
                    h("button")
                        .attr("type", "submit")
                        .id("poll-submit")
                        .class("primary")
                        .flag("disabled", props.busy)
                        .text(if props.busy {
                            "Creating…"
                        } else {
                            "Create poll"
                        }),
                ),
        )
        .into()
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
