//! Bringing the page in line with a new tree: what was rendered last time is kept
//! as [`Mounted`], and each render changes only the DOM that differs.
//!
//! Children are matched by position, or by key where they have one. Each child's
//! DOM node is then put right after the previous child's (moved only when it is
//! not there already), so inserts, removals and keyed moves need no other
//! bookkeeping.

use std::any::Any;
use std::cell::RefCell;
use std::rc::{Rc, Weak};

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Element, HtmlInputElement, Node as DomNode};

use super::hooks::{Hooks, NodeRef, with_hooks};
use super::node::{AttrValue, Comp, El, Handler, Node, SameProps};

/// What a [`Node`] became in the page.
#[derive(Default)]
pub(super) enum Mounted {
    #[default]
    Empty,
    Text(web_sys::Text, AttrValue),
    El(Box<MountedEl>),
    List(Vec<Mounted>),
    Comp(Box<MountedComp>),
}

pub(super) struct MountedEl {
    el: Element,
    tag: &'static str,
    key: Option<AttrValue>,
    attrs: Vec<(&'static str, AttrValue)>,
    value: Option<AttrValue>,
    checked: Option<bool>,
    listeners: Vec<Listener>,
    kids: Vec<Mounted>,
    node_ref: Option<NodeRef>,
}

pub(super) struct MountedComp {
    id: usize,
    key: Option<AttrValue>,
    hooks: Rc<Hooks>,
    /// A memoized component's props at its last render.
    props: Option<Rc<dyn Any>>,
    child: Mounted,
}

/// A DOM listener that calls whatever handler the latest render gave it.
struct Listener {
    event: &'static str,
    handler: Rc<RefCell<Handler>>,
    closure: Closure<dyn Fn(web_sys::Event)>,
}

/// Where the next node goes: after `prev` in `parent` (first when `None`).
pub(super) struct Cursor<'a> {
    pub parent: &'a Element,
    pub prev: Option<DomNode>,
    pub svg: bool,
    /// The component whose view is being patched (the parent of any new one).
    pub owner: Weak<Hooks>,
}

impl Cursor<'_> {
    /// Puts `node` right after the previous one, unless it is there already.
    fn place(&mut self, node: &DomNode) {
        let next = match &self.prev {
            Some(prev) => prev.next_sibling(),
            None => self.parent.first_child(),
        };
        if next.as_ref() != Some(node) {
            let _ = self.parent.insert_before(node, next.as_ref());
        }
        self.prev = Some(node.clone());
    }
}

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

impl Mounted {
    fn key(&self) -> Option<&AttrValue> {
        match self {
            Mounted::El(el) => el.key.as_ref(),
            Mounted::Comp(c) => c.key.as_ref(),
            _ => None,
        }
    }

    /// Puts this node's DOM at `at` as it is (a memoized component not rendered).
    fn place_all(&self, at: &mut Cursor<'_>) {
        match self {
            Mounted::Empty => {}
            Mounted::Text(text, _) => at.place(text),
            Mounted::El(el) => at.place(&el.el),
            Mounted::List(kids) => kids.iter().for_each(|k| k.place_all(at)),
            Mounted::Comp(c) => c.child.place_all(at),
        }
    }

    /// Takes this node's DOM out of the page (its components' effects are undone
    /// when it is dropped).
    pub(super) fn remove(&self, parent: &Element) {
        match self {
            Mounted::Empty => {}
            Mounted::Text(text, _) => {
                let _ = parent.remove_child(text);
            }
            Mounted::El(el) => {
                el.clear_refs();
                let _ = parent.remove_child(&el.el);
            }
            Mounted::List(kids) => kids.iter().for_each(|k| k.remove(parent)),
            Mounted::Comp(c) => c.child.remove(parent),
        }
    }
}

impl MountedEl {
    /// Empties the node refs of this element and those inside it: they are
    /// leaving the page (a component that stays must not find them there).
    fn clear_refs(&self) {
        if let Some(r) = &self.node_ref {
            r.set(None);
        }
        for kid in &self.kids {
            kid.for_each_el(&mut |el| el.clear_refs());
        }
    }
}

impl Mounted {
    /// Calls `f` with each outermost element of this node.
    fn for_each_el(&self, f: &mut impl FnMut(&MountedEl)) {
        match self {
            Mounted::Empty | Mounted::Text(..) => {}
            Mounted::El(el) => f(el),
            Mounted::List(kids) => kids.iter().for_each(|k| k.for_each_el(f)),
            Mounted::Comp(c) => c.child.for_each_el(f),
        }
    }
}

fn node_key(node: &Node) -> Option<&AttrValue> {
    match node {
        Node::El(el) => el.key.as_ref(),
        Node::Comp(c) => c.key.as_ref(),
        _ => None,
    }
}

/// Patches `old` (what was there, if anything) into `new`, placing it at `at`.
pub(super) fn patch(at: &mut Cursor<'_>, old: Mounted, new: Node) -> Mounted {
    match (old, new) {
        (Mounted::Empty, Node::Empty) => Mounted::Empty,
        (Mounted::Text(text, was), Node::Text(now)) => {
            if was != now {
                text.set_data(&now);
            }
            at.place(&text);
            Mounted::Text(text, now)
        }
        (Mounted::El(mut el), Node::El(new)) if el.tag == new.tag && el.key == new.key => {
            let svg = at.svg || el.tag == "svg";
            update_el(&mut el, *new, svg, &at.owner);
            at.place(&el.el);
            Mounted::El(el)
        }
        (Mounted::List(old), Node::List(new)) => Mounted::List(patch_kids(at, old, new)),
        (Mounted::Comp(mut c), Node::Comp(new)) if c.id == new.id && c.key == new.key => {
            if unchanged(&c, new.memo.as_ref()) {
                c.child.place_all(at);
                return Mounted::Comp(c);
            }
            c.props = new.memo.map(|(props, _)| props);
            let child = with_hooks(&c.hooks, new.render);
            let old = std::mem::take(&mut c.child);
            let outer = std::mem::replace(&mut at.owner, Rc::downgrade(&c.hooks));
            c.child = patch(at, old, child);
            at.owner = outer;
            Mounted::Comp(c)
        }
        (old, new) => {
            old.remove(at.parent);
            drop(old);
            create(at, new)
        }
    }
}

/// Makes the DOM for `node`, placed at `at`.
fn create(at: &mut Cursor<'_>, node: Node) -> Mounted {
    match node {
        Node::Empty => Mounted::Empty,
        Node::Text(text) => match document() {
            Some(doc) => {
                let dom = doc.create_text_node(&text);
                at.place(&dom);
                Mounted::Text(dom, text)
            }
            None => Mounted::Empty,
        },
        Node::El(new) => {
            let svg = at.svg || new.tag == "svg";
            let el = document().and_then(|doc| {
                if svg {
                    doc.create_element_ns(Some("http://www.w3.org/2000/svg"), new.tag)
                        .ok()
                } else {
                    doc.create_element(new.tag).ok()
                }
            });
            let Some(el) = el else {
                return Mounted::Empty;
            };
            if let Some(html) = new.inner_html {
                el.set_inner_html(html);
            }
            let mut mounted = Box::new(MountedEl {
                el,
                tag: new.tag,
                key: None,
                attrs: Vec::new(),
                value: None,
                checked: None,
                listeners: Vec::new(),
                kids: Vec::new(),
                node_ref: None,
            });
            update_el(&mut mounted, *new, svg, &at.owner);
            at.place(&mounted.el);
            Mounted::El(mounted)
        }
        Node::List(nodes) => Mounted::List(patch_kids(at, Vec::new(), nodes)),
        Node::Comp(Comp {
            id,
            key,
            render,
            memo,
        }) => {
            let hooks = Rc::new(Hooks::new(at.owner.clone()));
            let child = with_hooks(&hooks, render);
            let outer = std::mem::replace(&mut at.owner, Rc::downgrade(&hooks));
            let child = create(at, child);
            at.owner = outer;
            Mounted::Comp(Box::new(MountedComp {
                id,
                key,
                hooks,
                props: memo.map(|(props, _)| props),
                child,
            }))
        }
    }
}

/// A memoized component whose props are equal to its last render's and whose
/// own state has not changed since: it need not render.
fn unchanged(c: &MountedComp, memo: Option<&(Rc<dyn Any>, SameProps)>) -> bool {
    match (&c.props, memo) {
        (Some(old), Some((new, same))) => !c.hooks.dirty.get() && same(&**old, &**new),
        _ => false,
    }
}

/// Brings an element's attributes, properties, listeners and children in line.
fn update_el(m: &mut MountedEl, new: El, svg: bool, owner: &Weak<Hooks>) {
    let el = &m.el;
    // Attributes: set what is new or changed, remove what is gone.
    for (name, value) in &new.attrs {
        if !m.attrs.iter().any(|(n, v)| n == name && v == value) {
            let _ = el.set_attribute(name, value);
        }
    }
    for (name, _) in &m.attrs {
        if !new.attrs.iter().any(|(n, _)| n == name) {
            let _ = el.remove_attribute(name);
        }
    }
    m.attrs = new.attrs;
    m.key = new.key;
    if let Some(checked) = new.checked
        && let Some(input) = el.dyn_ref::<HtmlInputElement>()
        && input.checked() != checked
    {
        input.set_checked(checked);
    }
    m.checked = new.checked;
    update_listeners(m, new.listeners);
    if let Some(r) = &new.node_ref {
        r.set(Some(m.el.clone()));
    }
    m.node_ref = new.node_ref;
    let old = std::mem::take(&mut m.kids);
    let mut at = Cursor {
        parent: &m.el,
        prev: None,
        svg: svg && m.tag != "foreignObject",
        owner: owner.clone(),
    };
    m.kids = patch_kids(&mut at, old, new.kids);
    // The value (after the children: a select's options): only when the
    // element's own differs, so typing is not disturbed.
    if let Some(value) = &new.value {
        set_value(&m.el, value);
    }
    m.value = new.value;
}

/// Sets the `value` property of an input, text area or select, if it differs.
fn set_value(el: &Element, value: &str) {
    let current = js_sys::Reflect::get(el, &"value".into())
        .ok()
        .and_then(|v| v.as_string());
    if current.as_deref() != Some(value) {
        let _ = js_sys::Reflect::set(el, &"value".into(), &value.into());
    }
}

fn update_listeners(m: &mut MountedEl, new: Vec<(&'static str, Handler)>) {
    let el = &m.el;
    m.listeners.retain(|l| {
        let keep = new.iter().any(|(event, _)| *event == l.event);
        if !keep {
            let _ =
                el.remove_event_listener_with_callback(l.event, l.closure.as_ref().unchecked_ref());
        }
        keep
    });
    for (event, handler) in new {
        if let Some(l) = m.listeners.iter().find(|l| l.event == event) {
            *l.handler.borrow_mut() = handler;
            continue;
        }
        let slot = Rc::new(RefCell::new(handler));
        let current = slot.clone();
        let closure = Closure::<dyn Fn(web_sys::Event)>::new(move |e: web_sys::Event| {
            let handler = current.borrow().clone();
            handler(e);
            super::flush();
        });
        let _ = el.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
        m.listeners.push(Listener {
            event,
            handler: slot,
            closure,
        });
    }
}

/// Patches a list of children: by key where the new ones have keys, else by
/// position. What is left of the old ones is removed.
fn patch_kids(at: &mut Cursor<'_>, old: Vec<Mounted>, new: Vec<Node>) -> Vec<Mounted> {
    let keyed = new.iter().any(|n| node_key(n).is_some());
    let mut old: Vec<Option<Mounted>> = old.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(new.len());
    // Where the next keyed match is likely: after the last one.
    let mut hint = 0;
    for (i, node) in new.into_iter().enumerate() {
        let previous = if keyed {
            let key = node_key(&node);
            let same = |m: &Option<Mounted>| m.as_ref().is_some_and(|m| m.key() == key);
            let found = [hint, i]
                .into_iter()
                .find(|&j| old.get(j).is_some_and(same))
                .or_else(|| old.iter().position(same));
            if let Some(j) = found {
                hint = j + 1;
            }
            found.and_then(|j| old[j].take())
        } else {
            old.get_mut(i).and_then(Option::take)
        };
        out.push(patch(at, previous.unwrap_or_default(), node));
    }
    for gone in old.into_iter().flatten() {
        gone.remove(at.parent);
    }
    out
}
