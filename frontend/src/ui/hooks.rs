//! Hooks: what a component keeps between renders. Like React's (and yew's), they
//! are told apart by the order in which the component calls them, so a component
//! calls the same hooks in the same order every time.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ops::Deref;
use std::rc::{Rc, Weak};

use wasm_bindgen::JsCast;

use super::node::Callback;
use super::schedule_render;

/// One component instance's hooks.
#[derive(Default)]
pub(super) struct Hooks {
    slots: RefCell<Vec<Rc<dyn Any>>>,
    next: Cell<usize>,
    /// Its state changed since it last rendered: a memoized component
    /// ([`super::memo`]) renders again even with equal props.
    pub(super) dirty: Cell<bool>,
    /// The component whose view made this one: marked dirty with it, so the
    /// render from the root reaches it.
    parent: Weak<Hooks>,
}

impl Hooks {
    pub(super) fn new(parent: Weak<Hooks>) -> Self {
        Self {
            parent,
            ..Self::default()
        }
    }
}

/// Marks `owner` and the components above it as changed.
fn mark_dirty(owner: &Weak<Hooks>) {
    let mut next = owner.upgrade();
    while let Some(hooks) = next {
        if hooks.dirty.replace(true) {
            // Its ancestors were marked with it.
            return;
        }
        next = hooks.parent.upgrade();
    }
}

/// The component being rendered, if any.
fn owner() -> Weak<Hooks> {
    CURRENT.with(|c| c.borrow().last().map(Rc::downgrade).unwrap_or_default())
}

thread_local! {
    /// The hooks of the component being rendered.
    static CURRENT: RefCell<Vec<Rc<Hooks>>> = const { RefCell::new(Vec::new()) };
    /// Effects to run once the tree is patched, in order.
    static EFFECTS: RefCell<Vec<Box<dyn FnOnce()>>> = const { RefCell::new(Vec::new()) };
}

/// Calls `render` with `hooks` as the current component's.
pub(super) fn with_hooks<R>(hooks: &Rc<Hooks>, render: impl FnOnce() -> R) -> R {
    hooks.next.set(0);
    hooks.dirty.set(false);
    CURRENT.with(|c| c.borrow_mut().push(hooks.clone()));
    let out = render();
    CURRENT.with(|c| c.borrow_mut().pop());
    out
}

/// Runs the effects queued by the last render.
pub(super) fn run_effects() {
    loop {
        let effects = EFFECTS.with(|e| std::mem::take(&mut *e.borrow_mut()));
        if effects.is_empty() {
            return;
        }
        for effect in effects {
            effect();
        }
    }
}

/// The current component's next hook slot, made by `init` on its first render.
fn slot<T: 'static>(init: impl FnOnce() -> T) -> Rc<T> {
    let hooks = CURRENT.with(|c| c.borrow().last().cloned());
    let Some(hooks) = hooks else {
        // Outside a component: a hook that lives for this call only.
        return Rc::new(init());
    };
    let i = hooks.next.get();
    hooks.next.set(i + 1);
    let existing = hooks.slots.borrow().get(i).cloned();
    if let Some(Ok(slot)) = existing.map(|s| s.downcast::<T>()) {
        return slot;
    }
    let slot = Rc::new(init());
    let mut slots = hooks.slots.borrow_mut();
    slots.truncate(i);
    slots.push(slot.clone());
    slot
}

/// A value kept between renders; setting it renders again.
pub struct UseStateHandle<T> {
    value: Rc<T>,
    cell: Rc<RefCell<Rc<T>>>,
    owner: Weak<Hooks>,
}

impl<T> Clone for UseStateHandle<T> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            cell: self.cell.clone(),
            owner: self.owner.clone(),
        }
    }
}

impl<T> Deref for UseStateHandle<T> {
    type Target = T;
    /// The value at this render.
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> UseStateHandle<T> {
    pub fn set(&self, value: T) {
        *self.cell.borrow_mut() = Rc::new(value);
        mark_dirty(&self.owner);
        schedule_render();
    }
}

pub fn use_state<T: 'static>(init: impl FnOnce() -> T) -> UseStateHandle<T> {
    let cell = slot(|| RefCell::new(Rc::new(init())));
    let value = cell.borrow().clone();
    UseStateHandle {
        value,
        cell,
        owner: owner(),
    }
}

/// A callback that renders the component again (for state kept outside hooks).
pub fn use_force_update() -> Callback<()> {
    let owner = owner();
    Callback::from(move |()| {
        mark_dirty(&owner);
        schedule_render();
    })
}

/// A mutable value kept between renders; changing it does not render.
pub fn use_mut_ref<T: 'static>(init: impl FnOnce() -> T) -> Rc<RefCell<T>> {
    slot(|| RefCell::new(init()))
}

/// A handle on the DOM element of the view's `node_ref(…)`, once it is there.
#[derive(Clone, Default)]
pub struct NodeRef(Rc<RefCell<Option<web_sys::Element>>>);

impl PartialEq for NodeRef {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl NodeRef {
    pub fn get(&self) -> Option<web_sys::Element> {
        self.0.borrow().clone()
    }

    /// The element as `T` (unchecked: the view knows what it made).
    pub fn cast<T: JsCast>(&self) -> Option<T> {
        self.get().map(JsCast::unchecked_into)
    }

    pub(super) fn set(&self, el: Option<web_sys::Element>) {
        *self.0.borrow_mut() = el;
    }
}

pub fn use_node_ref() -> NodeRef {
    (*slot(NodeRef::default)).clone()
}

/// `f(&deps)`, computed again only when `deps` change.
pub fn use_memo<D: PartialEq + 'static, T: 'static>(deps: D, f: impl FnOnce(&D) -> T) -> Rc<T> {
    let memo = slot(|| RefCell::new(None::<(D, Rc<T>)>));
    let mut memo = memo.borrow_mut();
    match &*memo {
        Some((old, value)) if *old == deps => value.clone(),
        _ => {
            let value = Rc::new(f(&deps));
            *memo = Some((deps, value.clone()));
            value
        }
    }
}

/// What an effect leaves to undo: nothing, or a function.
pub trait TearDown: 'static {
    fn tear_down(self);
}

impl TearDown for () {
    fn tear_down(self) {}
}

impl<F: FnOnce() + 'static> TearDown for F {
    fn tear_down(self) {
        self();
    }
}

/// An effect's slot: its dependencies and what to undo. Dropped with the
/// component, which undoes the last run.
struct Effect<D> {
    deps: RefCell<Option<D>>,
    undo: RefCell<Option<Box<dyn FnOnce()>>>,
}

impl<D> Drop for Effect<D> {
    fn drop(&mut self) {
        if let Some(undo) = self.undo.get_mut().take() {
            undo();
        }
    }
}

/// Runs `f(&deps)` after the render in which `deps` first appear or change;
/// what it returns is called before the next run and when the component goes.
pub fn use_effect_with<D, F, R>(deps: D, f: F)
where
    D: PartialEq + 'static,
    F: FnOnce(&D) -> R + 'static,
    R: TearDown,
{
    let effect = slot(|| Effect::<D> {
        deps: RefCell::new(None),
        undo: RefCell::new(None),
    });
    if effect.deps.borrow().as_ref() == Some(&deps) {
        return;
    }
    let run = move || {
        if let Some(undo) = effect.undo.borrow_mut().take() {
            undo();
        }
        let undo = f(&deps);
        *effect.deps.borrow_mut() = Some(deps);
        *effect.undo.borrow_mut() = Some(Box::new(move || undo.tear_down()));
    };
    EFFECTS.with(|e| e.borrow_mut().push(Box::new(run)));
}

/// State changed only by actions (see [`use_reducer`]).
pub trait Reducible {
    type Action;
    fn reduce(self: Rc<Self>, action: Self::Action) -> Rc<Self>;
}

/// The state of [`use_reducer`] at this render, and the way to change it.
pub struct UseReducerHandle<S> {
    value: Rc<S>,
    cell: Rc<RefCell<Rc<S>>>,
    owner: Weak<Hooks>,
}

impl<S> Clone for UseReducerHandle<S> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            cell: self.cell.clone(),
            owner: self.owner.clone(),
        }
    }
}

impl<S> Deref for UseReducerHandle<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.value
    }
}

impl<S> UseReducerHandle<S> {
    pub fn dispatcher(&self) -> UseReducerDispatcher<S> {
        UseReducerDispatcher {
            cell: self.cell.clone(),
            owner: self.owner.clone(),
        }
    }
}

/// Sends actions to a reducer; renders again when the state changes.
pub struct UseReducerDispatcher<S> {
    cell: Rc<RefCell<Rc<S>>>,
    /// The component that holds the state (none outside components).
    owner: Weak<Hooks>,
}

impl<S> Clone for UseReducerDispatcher<S> {
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
            owner: self.owner.clone(),
        }
    }
}

impl<S> PartialEq for UseReducerDispatcher<S> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.cell, &other.cell)
    }
}

impl<S: Reducible + 'static> UseReducerDispatcher<S> {
    /// A dispatcher of its own (not a hook): for state outside components.
    pub fn new(state: S) -> Self {
        Self {
            cell: Rc::new(RefCell::new(Rc::new(state))),
            owner: Weak::new(),
        }
    }

    pub fn dispatch(&self, action: S::Action) {
        let current = self.cell.borrow().clone();
        let next = current.clone().reduce(action);
        if !Rc::ptr_eq(&current, &next) {
            *self.cell.borrow_mut() = next;
            mark_dirty(&self.owner);
            schedule_render();
        }
    }

    pub fn to_callback(&self) -> Callback<S::Action> {
        let this = self.clone();
        Callback::from(move |action| this.dispatch(action))
    }

    pub fn state(&self) -> Rc<S> {
        self.cell.borrow().clone()
    }
}

pub fn use_reducer<S: Reducible + 'static>(init: impl FnOnce() -> S) -> UseReducerHandle<S> {
    let dispatcher = slot(|| UseReducerDispatcher::new(init()));
    UseReducerHandle {
        value: dispatcher.state(),
        cell: dispatcher.cell.clone(),
        owner: owner(),
    }
}
