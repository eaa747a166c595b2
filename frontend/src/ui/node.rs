//! What a view returns: a tree of [`Node`]s built with [`h`] and its methods,
//! and [`Callback`], the handle through which views call back into the app.

use std::any::Any;
use std::borrow::Cow;
use std::rc::Rc;

use wasm_bindgen::JsCast;

use super::hooks::NodeRef;

/// Text for attributes and text nodes: a literal, or a string made at render.
pub type AttrValue = Cow<'static, str>;

/// What a view returns.
pub type Html = Node;

/// One node of a view: nothing, a text, an element, a group of nodes (which
/// keeps its place among its siblings, so a branch that comes and goes never
/// moves the elements after it) or a component.
#[derive(Default)]
pub enum Node {
    #[default]
    Empty,
    Text(AttrValue),
    El(Box<El>),
    List(Vec<Node>),
    Comp(Comp),
}

/// A listener as the DOM calls it.
pub(super) type Handler = Rc<dyn Fn(web_sys::Event)>;

/// An element, built by [`h`] and the methods below.
pub struct El {
    pub(super) tag: &'static str,
    pub(super) key: Option<AttrValue>,
    pub(super) attrs: Vec<(&'static str, AttrValue)>,
    /// The `value` property (inputs, text areas, selects): set only when the
    /// element's current value differs, so typing is never disturbed.
    pub(super) value: Option<AttrValue>,
    pub(super) checked: Option<bool>,
    /// Static markup written into the element once, when it is created.
    pub(super) inner_html: Option<&'static str>,
    pub(super) listeners: Vec<(&'static str, Handler)>,
    pub(super) kids: Vec<Node>,
    pub(super) node_ref: Option<NodeRef>,
}

/// A component: a function of its props with hooks of its own, called when the
/// tree is rendered. Identified by the function (and its key, if any).
pub struct Comp {
    pub(super) id: usize,
    pub(super) key: Option<AttrValue>,
    pub(super) render: Box<dyn FnOnce() -> Node>,
    /// For [`memo`]: the props, and how to compare them with the last render's.
    pub(super) memo: Option<(Rc<dyn Any>, SameProps)>,
}

/// Whether two props (of the same component) are equal.
pub(super) type SameProps = fn(&dyn Any, &dyn Any) -> bool;

/// A new element.
pub fn h(tag: &'static str) -> Box<El> {
    Box::new(El {
        tag,
        key: None,
        attrs: Vec::new(),
        value: None,
        checked: None,
        inner_html: None,
        listeners: Vec::new(),
        kids: Vec::new(),
        node_ref: None,
    })
}

/// A component: `view` rendered with `props`, with its own hooks.
pub fn comp<P: 'static>(view: fn(&P) -> Html, props: P) -> Node {
    Node::Comp(Comp {
        id: view as usize,
        key: None,
        render: Box::new(move || view(&props)),
        memo: None,
    })
}

/// [`comp`] that is not rendered again while its props are equal to the last
/// render's and its own state has not changed: for a large view (the message
/// list) whose parent renders often. Callbacks in its props must then keep
/// their identity between renders (make them with `use_memo`), since a
/// callback is equal only to its clones.
pub fn memo<P: PartialEq + 'static>(view: fn(&P) -> Html, props: P) -> Node {
    let props = Rc::new(props);
    let same: SameProps = |a, b| match (a.downcast_ref::<P>(), b.downcast_ref::<P>()) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    };
    let shared = props.clone();
    Node::Comp(Comp {
        id: view as usize,
        key: None,
        render: Box::new(move || view(&shared)),
        memo: Some((props, same)),
    })
}

/// `node` (a component or an element) with a key.
pub fn keyed(key: impl Into<AttrValue>, node: Node) -> Node {
    match node {
        Node::Comp(mut c) => {
            c.key = Some(key.into());
            Node::Comp(c)
        }
        Node::El(mut el) => {
            el.key = Some(key.into());
            Node::El(el)
        }
        other => other,
    }
}

/// [`comp`] with a key: a different key is a different instance (fresh hooks).
pub fn comp_keyed<P: 'static>(key: impl Into<AttrValue>, view: fn(&P) -> Html, props: P) -> Node {
    keyed(key, comp(view, props))
}

/// The class names that are not empty, separated by spaces.
pub fn classes(names: &[&str]) -> String {
    let mut out = String::new();
    for name in names.iter().filter(|n| !n.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(name);
    }
    out
}

/// `name` when `on`, else nothing: for [`classes`].
pub fn when(on: bool, name: &str) -> &str {
    if on { name } else { "" }
}

impl El {
    pub fn key(mut self: Box<Self>, key: impl Into<AttrValue>) -> Box<Self> {
        self.key = Some(key.into());
        self
    }

    pub fn attr(self: Box<Self>, name: &'static str, value: impl Into<AttrValue>) -> Box<Self> {
        self.attr_value(name, value.into())
    }

    #[inline(never)]
    fn attr_value(mut self: Box<Self>, name: &'static str, value: AttrValue) -> Box<Self> {
        self.attrs.push((name, value));
        self
    }

    /// The attribute when `value` is `Some`.
    pub fn attr_opt<V: Into<AttrValue>>(
        self: Box<Self>,
        name: &'static str,
        value: Option<V>,
    ) -> Box<Self> {
        match value {
            Some(value) => self.attr_value(name, value.into()),
            None => self,
        }
    }

    /// A boolean attribute (`disabled`, `hidden`, …): present when `on`.
    pub fn flag(self: Box<Self>, name: &'static str, on: bool) -> Box<Self> {
        if on {
            self.attr_value(name, AttrValue::Borrowed(""))
        } else {
            self
        }
    }

    pub fn id(self: Box<Self>, id: &'static str) -> Box<Self> {
        self.attr_value("id", AttrValue::Borrowed(id))
    }

    pub fn class(self: Box<Self>, class: impl Into<AttrValue>) -> Box<Self> {
        self.attr_value("class", class.into())
    }

    pub fn value(mut self: Box<Self>, value: impl Into<AttrValue>) -> Box<Self> {
        self.value = Some(value.into());
        self
    }

    pub fn checked(mut self: Box<Self>, checked: bool) -> Box<Self> {
        self.checked = Some(checked);
        self
    }

    /// Markup written once into the new element (static text of our own only).
    pub fn inner_html(mut self: Box<Self>, html: &'static str) -> Box<Self> {
        self.inner_html = Some(html);
        self
    }

    pub fn node_ref(mut self: Box<Self>, node_ref: &NodeRef) -> Box<Self> {
        self.node_ref = Some(node_ref.clone());
        self
    }

    /// Calls `callback` with each `event` (`"click"`, `"input"`, …) on this element.
    pub fn on<E: JsCast + 'static>(
        self: Box<Self>,
        event: &'static str,
        callback: Callback<E>,
    ) -> Box<Self> {
        self.listen(
            event,
            Rc::new(move |e: web_sys::Event| callback.emit(e.unchecked_into())),
        )
    }

    #[inline(never)]
    fn listen(mut self: Box<Self>, event: &'static str, handler: Handler) -> Box<Self> {
        self.listeners.push((event, handler));
        self
    }

    pub fn onclick(self: Box<Self>, callback: Callback<web_sys::MouseEvent>) -> Box<Self> {
        self.on("click", callback)
    }

    pub fn oninput(self: Box<Self>, callback: Callback<web_sys::InputEvent>) -> Box<Self> {
        self.on("input", callback)
    }

    /// The form's submit, with the browser's own submission prevented.
    pub fn onsubmit(self: Box<Self>, callback: Callback<()>) -> Box<Self> {
        self.listen(
            "submit",
            Rc::new(move |e: web_sys::Event| {
                e.prevent_default();
                callback.emit(());
            }),
        )
    }

    pub fn child(mut self: Box<Self>, node: impl Into<Node>) -> Box<Self> {
        self.kids.push(node.into());
        self
    }

    pub fn kids(mut self: Box<Self>, nodes: impl IntoIterator<Item = Node>) -> Box<Self> {
        self.kids.extend(nodes);
        self
    }

    /// A text child.
    pub fn text(self: Box<Self>, text: impl Into<AttrValue>) -> Box<Self> {
        self.child(Node::Text(text.into()))
    }
}

impl From<Box<El>> for Node {
    fn from(el: Box<El>) -> Self {
        Node::El(el)
    }
}

impl From<&'static str> for Node {
    fn from(text: &'static str) -> Self {
        Node::Text(AttrValue::Borrowed(text))
    }
}

impl From<String> for Node {
    fn from(text: String) -> Self {
        Node::Text(AttrValue::Owned(text))
    }
}

impl From<AttrValue> for Node {
    fn from(text: AttrValue) -> Self {
        Node::Text(text)
    }
}

impl<T: Into<Node>> From<Option<T>> for Node {
    fn from(node: Option<T>) -> Self {
        node.map_or(Node::Empty, Into::into)
    }
}

impl From<Vec<Node>> for Node {
    fn from(nodes: Vec<Node>) -> Self {
        Node::List(nodes)
    }
}

impl FromIterator<Node> for Node {
    fn from_iter<I: IntoIterator<Item = Node>>(iter: I) -> Self {
        Node::List(iter.into_iter().collect())
    }
}

/// A function the app hands to a view; cheap to clone. Equal only to its clones.
pub struct Callback<T> {
    f: Rc<dyn Fn(T)>,
}

impl<T> Clone for Callback<T> {
    fn clone(&self) -> Self {
        Self { f: self.f.clone() }
    }
}

impl<T> PartialEq for Callback<T> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.f, &other.f)
    }
}

impl<T> std::fmt::Debug for Callback<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Callback")
    }
}

impl<T: 'static> Default for Callback<T> {
    /// Does nothing.
    fn default() -> Self {
        Self::from(|_| ())
    }
}

impl<T, F: Fn(T) + 'static> From<F> for Callback<T> {
    fn from(f: F) -> Self {
        Self { f: Rc::new(f) }
    }
}

impl<T: 'static> Callback<T> {
    /// Does nothing.
    pub fn noop() -> Self {
        Self::default()
    }

    pub fn emit(&self, value: T) {
        (self.f)(value);
    }

    /// A callback that maps its argument with `map` and calls this one.
    pub fn reform<U: 'static>(&self, map: impl Fn(U) -> T + 'static) -> Callback<U> {
        let this = self.clone();
        Callback::from(move |u| this.emit(map(u)))
    }
}

/// The element an event was sent to, as `T` (unchecked: the view knows).
pub fn target<T: JsCast>(event: &web_sys::Event) -> Option<T> {
    event.target().map(JsCast::unchecked_into)
}
