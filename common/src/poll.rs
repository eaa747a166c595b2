//! Live polls: what a poll is, its tally, and the rules a new poll must meet.

use serde::{Deserialize, Serialize};

use crate::text::{Lowercase, RoomName, Username};

/// At least this many options.
pub const MIN_OPTIONS: usize = 2;
/// At most this many options.
pub const MAX_OPTIONS: usize = 10;
/// Longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 200;
/// Longest option, in characters.
pub const MAX_OPTION_CHARS: usize = 80;

/// Why a new poll is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollProblem {
    EmptyQuestion,
    QuestionTooLong,
    TooFewOptions,
    TooManyOptions,
    EmptyOption,
    OptionTooLong,
    /// Two options are the same (ignoring case and surrounding spaces).
    DuplicateOption,
    /// A control character in the question or an option.
    ControlCharacter,
}

impl std::fmt::Display for PollProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::EmptyQuestion => "the question is empty",
            Self::QuestionTooLong => "the question is longer than 200 characters",
            Self::TooFewOptions => "a poll needs at least 2 options",
            Self::TooManyOptions => "a poll has at most 10 options",
            Self::EmptyOption => "an option is empty",
            Self::OptionTooLong => "an option is longer than 80 characters",
            Self::DuplicateOption => "two options are the same",
            Self::ControlCharacter => "the poll contains a control character",
        })
    }
}

/// A valid new poll: a question and 2–10 distinct options, all trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollSpec {
    question: String,
    options: Vec<String>,
}

impl PollSpec {
    pub fn parse(question: &str, options: &[String]) -> Result<Self, PollProblem> {
        Self::parse_with(question, options, str::to_lowercase)
    }

    /// [`PollSpec::parse`], lower-casing (to compare the options) with `lowercase`.
    pub fn parse_with(
        question: &str,
        options: &[String],
        lowercase: Lowercase,
    ) -> Result<Self, PollProblem> {
        let question = question.trim();
        if question.is_empty() {
            return Err(PollProblem::EmptyQuestion);
        }
        if question.chars().nth(MAX_QUESTION_CHARS).is_some() {
            return Err(PollProblem::QuestionTooLong);
        }
        if options.len() < MIN_OPTIONS {
            return Err(PollProblem::TooFewOptions);
        }
        if options.len() > MAX_OPTIONS {
            return Err(PollProblem::TooManyOptions);
        }
        let mut seen = Vec::with_capacity(options.len());
        let mut clean = Vec::with_capacity(options.len());
        for option in options {
            let option = option.trim();
            if option.is_empty() {
                return Err(PollProblem::EmptyOption);
            }
            if option.chars().nth(MAX_OPTION_CHARS).is_some() {
                return Err(PollProblem::OptionTooLong);
            }
            let key = lowercase(option);
            if seen.contains(&key) {
                return Err(PollProblem::DuplicateOption);
            }
            seen.push(key);
            clean.push(option.to_owned());
        }
        if question
            .chars()
            .chain(clean.iter().flat_map(|o| o.chars()))
            .any(char::is_control)
        {
            return Err(PollProblem::ControlCharacter);
        }
        Ok(Self {
            question: question.to_owned(),
            options: clean,
        })
    }

    pub fn question(&self) -> &str {
        &self.question
    }

    pub fn options(&self) -> &[String] {
        &self.options
    }
}

/// A poll's counts at one version. Versions go up by one with every change; a
/// client that sees a gap asks for a snapshot (`get_poll`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub version: u64,
    /// Votes per option, in option order.
    pub counts: Vec<u64>,
    /// How many users have voted.
    pub voters: u64,
    pub closed: bool,
}

/// Everything about a poll, as one user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollInfo {
    pub id: u64,
    pub room: RoomName,
    pub creator: Username,
    pub question: String,
    pub options: Vec<String>,
    /// When the poll closes by itself (ms since the Unix epoch), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<u64>,
    pub tally: Tally,
    /// The option this user voted for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_vote: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_poll_needs_a_question_and_two_to_ten_distinct_options() {
        let ok = PollSpec::parse(" Lunch? ", &opts(&[" pizza", "sushi "])).unwrap();
        assert_eq!(ok.question(), "Lunch?");
        assert_eq!(ok.options(), ["pizza", "sushi"]);
        let p = |q: &str, o: &[&str]| PollSpec::parse(q, &opts(o)).unwrap_err();
        assert_eq!(p(" ", &["a", "b"]), PollProblem::EmptyQuestion);
        assert_eq!(p("q", &["a"]), PollProblem::TooFewOptions);
        let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
        assert_eq!(
            PollSpec::parse("q", &eleven).unwrap_err(),
            PollProblem::TooManyOptions
        );
        assert_eq!(p("q", &["a", " "]), PollProblem::EmptyOption);
        assert_eq!(p("q", &["Yes", " yes "]), PollProblem::DuplicateOption);
        assert_eq!(
            p(&"q".repeat(201), &["a", "b"]),
            PollProblem::QuestionTooLong
        );
        assert_eq!(p("q", &[&"a".repeat(81), "b"]), PollProblem::OptionTooLong);
        assert_eq!(p("q\u{7}", &["a", "b"]), PollProblem::ControlCharacter);
        let ten: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        assert!(PollSpec::parse("q", &ten).is_ok());
    }
}
