//! Browser tests: the UI layer itself (rendering, keys, hooks, listeners, memo).

use parley_frontend::ui::{
    self, Html, Node, UseStateHandle, h, use_effect_with, use_mut_ref, use_state,
};

use super::*;

/// A component whose state the test can change from outside.
#[derive(Clone)]
struct Probe {
    /// Receives the component's state handle on each render.
    handle: Rc<RefCell<Option<UseStateHandle<Vec<&'static str>>>>>,
    /// What the effect and its teardown did, in order.
    log: Rc<RefCell<Vec<String>>>,
}

fn probe_view(props: &Probe) -> Html {
    let items = use_state(|| vec!["a", "b", "c"]);
    *props.handle.borrow_mut() = Some(items.clone());
    let renders = use_mut_ref(|| 0u32);
    *renders.borrow_mut() += 1;
    {
        let log = props.log.clone();
        use_effect_with(items.len(), move |&n| {
            log.borrow_mut().push(format!("effect {n}"));
            move || log.borrow_mut().push(format!("undo {n}"))
        });
    }
    let first = items.first().copied().unwrap_or("");
    h("div")
        .id("probe")
        .attr("data-renders", renders.borrow().to_string())
        // Comes and goes before the input: the input must stay the same element.
        .child((first == "x").then(|| h("p").class("note").text("x first")))
        .child(h("input").id("field"))
        .child(
            h("ul").child(
                items
                    .iter()
                    .map(|&item| Node::from(h("li").key(item).text(item)))
                    .collect::<Node>(),
            ),
        )
        .into()
}

fn items(root: &Element) -> Vec<String> {
    let found = root.query_selector_all("li").unwrap();
    (0..found.length())
        .map(|i| found.item(i).unwrap().text_content().unwrap_or_default())
        .collect()
}

fn probe() -> (Element, Probe) {
    let props = Probe {
        handle: Rc::default(),
        log: Rc::default(),
    };
    (render(probe_view, props.clone()), props)
}

fn set(props: &Probe, value: Vec<&'static str>) {
    props.handle.borrow().as_ref().unwrap().set(value);
}

#[wasm_bindgen_test]
async fn keyed_children_move_instead_of_being_made_again() {
    let (root, props) = probe();
    let b = find(&root, "li:nth-child(2)").await;
    assert_eq!(items(&root), ["a", "b", "c"]);
    set(&props, vec!["c", "b", "a", "d"]);
    wait_for(&root, "li:nth-child(4)", |_| true).await;
    assert_eq!(items(&root), ["c", "b", "a", "d"]);
    // The same element, moved: keys keep identity.
    let b_now = root.query_selector("li:nth-child(2)").unwrap().unwrap();
    assert!(b.is_same_node(Some(&b_now)));
    set(&props, vec!["d"]);
    wait_for(&root, "ul", |ul| ul.child_element_count() == 1).await;
    assert_eq!(items(&root), ["d"]);
}

#[wasm_bindgen_test]
async fn a_branch_that_appears_does_not_remake_its_siblings() {
    let (root, props) = probe();
    let field = input(&root, "#field");
    field.set_value("typed, not rendered");
    set(&props, vec!["x", "y"]);
    find(&root, "p.note").await;
    let now = input(&root, "#field");
    assert!(field.is_same_node(Some(&now)));
    assert_eq!(now.value(), "typed, not rendered");
    // And in order: the note first.
    let first = root.query_selector("#probe > *").unwrap().unwrap();
    assert_eq!(first.tag_name(), "P");
}

#[wasm_bindgen_test]
async fn effects_run_after_a_change_of_their_deps_and_undo_before_the_next() {
    let (root, props) = probe();
    find(&root, "li").await;
    wait_for(&root, "#probe", |_| props.log.borrow().len() == 1).await;
    assert_eq!(*props.log.borrow(), ["effect 3"]);
    // Same length: the effect does not run again.
    set(&props, vec!["c", "b", "a"]);
    wait_for(&root, "#probe", |p| {
        p.get_attribute("data-renders").as_deref() == Some("2")
    })
    .await;
    assert_eq!(*props.log.borrow(), ["effect 3"]);
    set(&props, vec!["a"]);
    wait_for(&root, "#probe", |_| props.log.borrow().len() == 3).await;
    assert_eq!(*props.log.borrow(), ["effect 3", "undo 3", "effect 1"]);
}

#[derive(Clone)]
struct Clicks {
    which: Rc<RefCell<Vec<u32>>>,
    handle: Rc<RefCell<Option<UseStateHandle<u32>>>>,
}

fn clicks_view(props: &Clicks) -> Html {
    let round = use_state(|| 1u32);
    *props.handle.borrow_mut() = Some(round.clone());
    let which = props.which.clone();
    let this_round = *round;
    h("button")
        .id("clicker")
        .attr("data-round", this_round.to_string())
        .onclick(ui::Callback::from(move |_| {
            which.borrow_mut().push(this_round);
        }))
        .child(
            h("svg")
                .attr("viewBox", "0 0 10 10")
                .child(h("path").attr("d", "M0 0h10"))
                // Added by a later render, inside the svg made by the first.
                .child((this_round > 1).then(|| h("circle").attr("r", "2"))),
        )
        .into()
}

#[wasm_bindgen_test]
async fn a_new_render_replaces_the_listener_and_svg_is_svg() {
    let props = Clicks {
        which: Rc::default(),
        handle: Rc::default(),
    };
    let root = render(clicks_view, props.clone());
    let button = find(&root, "#clicker").await;
    click(&button);
    props.handle.borrow().as_ref().unwrap().set(2);
    wait_for(&root, "#clicker[data-round='2']", |_| true).await;
    click(&button);
    // One listener, calling the latest handler.
    assert_eq!(*props.which.borrow(), [1, 2]);
    let path = root.query_selector("path").unwrap().unwrap();
    assert_eq!(
        path.namespace_uri().as_deref(),
        Some("http://www.w3.org/2000/svg")
    );
    let circle = root.query_selector("circle").unwrap().unwrap();
    assert_eq!(
        circle.namespace_uri().as_deref(),
        Some("http://www.w3.org/2000/svg")
    );
    let svg = root.query_selector("svg").unwrap().unwrap();
    assert_eq!(svg.get_attribute("viewBox").as_deref(), Some("0 0 10 10"));
}

/// A memoized child: counts its renders, and has state of its own.
#[derive(Clone)]
struct ChildProps {
    label: &'static str,
    renders: Rc<RefCell<u32>>,
    own: Rc<RefCell<Option<UseStateHandle<u32>>>>,
}

/// Props are the label; the rest is the test's view into the child.
impl PartialEq for ChildProps {
    fn eq(&self, other: &Self) -> bool {
        self.label == other.label
    }
}

fn child_view(props: &ChildProps) -> Html {
    let own = use_state(|| 0u32);
    *props.own.borrow_mut() = Some(own.clone());
    *props.renders.borrow_mut() += 1;
    h("p")
        .id("child")
        .text(format!("{} {}", props.label, *own))
        .into()
}

/// The parent's state: a render counter and the child's label.
type ParentState = Rc<RefCell<Option<UseStateHandle<(u32, &'static str)>>>>;

#[derive(Clone)]
struct ParentProps {
    child: ChildProps,
    parent: ParentState,
}

fn parent_view(props: &ParentProps) -> Html {
    let state = use_state(|| (0u32, "a"));
    *props.parent.borrow_mut() = Some(state.clone());
    h("div")
        .id("parent")
        .attr("data-n", state.0.to_string())
        .child(ui::memo(
            child_view,
            ChildProps {
                label: state.1,
                ..props.child.clone()
            },
        ))
        .into()
}

#[wasm_bindgen_test]
async fn a_memoized_component_renders_only_when_its_props_or_state_change() {
    let props = ParentProps {
        child: ChildProps {
            label: "a",
            renders: Rc::default(),
            own: Rc::default(),
        },
        parent: Rc::default(),
    };
    let root = render(parent_view, props.clone());
    find(&root, "#child").await;
    let renders = || *props.child.renders.borrow();
    assert_eq!(renders(), 1);
    // The parent renders, the child's props are equal: not rendered, still there.
    props.parent.borrow().as_ref().unwrap().set((1, "a"));
    wait_for(&root, "#parent[data-n='1']", |_| true).await;
    assert_eq!(renders(), 1);
    assert_eq!(
        text(&root.query_selector("#child").unwrap().unwrap()),
        "a 0"
    );
    // Its own state changed: rendered, though its props did not.
    props.child.own.borrow().as_ref().unwrap().set(5);
    wait_for(&root, "#child", |el| text(el) == "a 5").await;
    assert_eq!(renders(), 2);
    // Its props changed: rendered.
    props.parent.borrow().as_ref().unwrap().set((2, "b"));
    wait_for(&root, "#child", |el| text(el) == "b 5").await;
    assert_eq!(renders(), 3);
}

type RefProbe = Rc<RefCell<Option<(ui::NodeRef, UseStateHandle<bool>)>>>;

fn ref_view(probe: &RefProbe) -> Html {
    let shown = use_state(|| true);
    let input = ui::use_node_ref();
    *probe.borrow_mut() = Some((input.clone(), shown.clone()));
    h("div")
        .id("refs")
        .child(shown.then(|| h("section").child(h("input").id("inner").node_ref(&input))))
        .into()
}

#[wasm_bindgen_test]
async fn a_node_ref_inside_a_removed_element_is_emptied() {
    let probe = RefProbe::default();
    let root = render(ref_view, probe.clone());
    find(&root, "#inner").await;
    let (input, shown) = probe.borrow().clone().unwrap();
    assert_eq!(input.get().map(|el| el.id()).as_deref(), Some("inner"));
    shown.set(false);
    wait_for(&root, "#refs", |el| el.child_element_count() == 0).await;
    assert!(input.get().is_none());
}
