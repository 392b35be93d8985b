//! Caches of the watched objects: one store per kind over every watched namespace, warm
//! whether or not this instance leads, and fed to the controllers as shared streams.
//!
//! kube-runtime's reflector writes one store from one watcher, and a relist replaces the
//! whole store, so the watchers of several namespaces cannot share a plain writer. Here each
//! namespace has its own watcher and [`Merge`] turns their events into the events of one
//! store: the first complete listing of all namespaces becomes the store's initial listing,
//! and a later relist of one namespace becomes updates and deletions of that namespace only.
//!
//! Objects that do not deserialize (written by a newer version of the CRD, or edited past
//! the schema) would make kube-runtime's watcher fail its whole list and retry forever, so
//! that no object of the kind would be reconciled. They are read through
//! [`DeserializeGuard`] instead: reported (log and Event), kept out of the store, and the
//! others carry on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::core::{DeserializeGuard, NamespaceResourceScope, error_boundary::InvalidObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{debug, info, warn};

/// What this instance watches: some namespaces (empty: all) and a label selector.
#[derive(Clone, Debug, Default)]
pub struct WatchScope {
    pub namespaces: Vec<String>,
    pub label_selector: Option<String>,
}

impl WatchScope {
    /// The namespaces as watched: `None` is all namespaces.
    fn scopes(&self) -> Vec<Option<String>> {
        if self.namespaces.is_empty() {
            vec![None]
        } else {
            self.namespaces.iter().cloned().map(Some).collect()
        }
    }
}

/// Bound of the kinds watched here.
pub trait Watchable:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> Watchable for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// The cache of one kind and the streams of its changes.
#[derive(Clone)]
pub struct Watched<K: Watchable> {
    store: Store<K>,
    subscribers: Subscribers<K>,
}

impl<K: Watchable> Watched<K> {
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// Objects as they change (created, updated, relisted) from now on, for
    /// `Controller::for_shared_stream` and `watches_shared_stream`. Dropping the stream
    /// unsubscribes.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        self.subscribers.subscribe()
    }

    /// Like [`Watched::subscribe`], but only objects that are new or whose spec
    /// (`generation`), annotations, finalizers or deletion changed: what a kind's own
    /// reconcile acts on (an annotation change is the usual way to ask for a reconcile).
    /// Changes of status alone are left out; they are the reconcile's own writes, and
    /// waking it for them would only make it read AWS again.
    pub fn subscribe_changes(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        self.subscribe_by(ChangeKey::of)
    }

    /// Like [`Watched::subscribe`], but only objects that are new or whose `key` changed.
    pub fn subscribe_by<T>(&self, key: fn(&K) -> T) -> impl Stream<Item = Arc<K>> + Send + 'static
    where
        T: PartialEq + Send + 'static,
    {
        let mut seen: HashMap<ObjectRef<K>, T> = HashMap::new();
        self.subscribe().filter(move |obj| {
            let changed = match seen.insert(ObjectRef::from(obj.as_ref()), key(obj.as_ref())) {
                Some(before) => before != key(obj.as_ref()),
                None => true,
            };
            std::future::ready(changed)
        })
    }
}

/// What decides whether an object changed for its reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ChangeKey {
    uid: Option<String>,
    generation: Option<i64>,
    deleting: bool,
    finalizers: Vec<String>,
    annotations: BTreeMap<String, String>,
}

impl ChangeKey {
    fn of<K: Resource>(obj: &K) -> Self {
        let meta = obj.meta();
        Self {
            uid: meta.uid.clone(),
            generation: meta.generation,
            deleting: meta.deletion_timestamp.is_some(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            annotations: meta.annotations.clone().unwrap_or_default(),
        }
    }
}

/// Unbounded fan-out: a controller that stops polling (while it shuts down) never holds the
/// cache back, and a subscriber can join at any time (controllers start when leading).
struct Subscribers<K>(Arc<Mutex<Vec<UnboundedSender<Arc<K>>>>>);

impl<K> Clone for Subscribers<K> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<K> Subscribers<K> {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Vec::new())))
    }

    fn subscribe(&self) -> UnboundedReceiver<Arc<K>> {
        let (tx, rx) = unbounded();
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        rx
    }

    fn send(&self, obj: &Arc<K>) {
        let mut subscribers = self.0.lock().unwrap_or_else(|p| p.into_inner());
        subscribers.retain(|tx| tx.unbounded_send(Arc::clone(obj)).is_ok());
    }
}

/// Retries of a failed watch: 0.5 s doubling to at most 5 s, with jitter. kube-runtime's
/// default grows to 30 s (plus as much jitter), so a change made right after a 30 s
/// apiserver outage waited up to 50 s to be seen; a retry every 5 s per watched kind and
/// namespace costs the apiserver little.
#[derive(Debug)]
struct WatchBackoff {
    next: std::time::Duration,
}

impl WatchBackoff {
    const FIRST: std::time::Duration = std::time::Duration::from_millis(500);
    const MAX: std::time::Duration = std::time::Duration::from_secs(5);
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl Iterator for WatchBackoff {
    type Item = std::time::Duration;

    fn next(&mut self) -> Option<Self::Item> {
        use rand::Rng;
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        Some(delay.mul_f64(rand::rng().random_range(0.8..1.2)))
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// Starts caching `K` in `scope`. The returned future keeps the cache up to date and runs
/// until dropped; objects that fail to deserialize are reported through `recorder`.
pub fn watch<K: Watchable>(
    client: &Client,
    scope: &WatchScope,
    recorder: Recorder,
) -> (Watched<K>, impl Future<Output = ()> + Send + 'static) {
    let mut config = watcher::Config::default();
    if let Some(selector) = &scope.label_selector {
        config = config.labels(selector);
    }
    let scopes = scope.scopes();
    let streams = scopes.iter().enumerate().map(|(index, namespace)| {
        let api: Api<DeserializeGuard<K>> = match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let label = namespace.clone().unwrap_or_else(|| "<all>".into());
        watcher::watcher(api, config.clone())
            .backoff(WatchBackoff::default())
            .filter_map(move |event| {
                let label = label.clone();
                async move {
                    match event {
                        Ok(event) => Some((index, event)),
                        Err(err) => {
                            let hint = match &err {
                                watcher::Error::InitialListFailed(kube::Error::Api(status))
                                    if status.code == 404 =>
                                {
                                    "; is the CRD installed? (--install-crds applies it)"
                                }
                                watcher::Error::InitialListFailed(kube::Error::Api(status))
                                    if status.code == 403 =>
                                {
                                    "; the operator's RBAC does not allow listing it here"
                                }
                                _ => "",
                            };
                            warn!(kind = %K::kind(&()), namespace = %label, error = %err, "watch failed, retrying{hint}; no controller starts until every cache is synced");
                            None
                        }
                    }
                }
            })
            .boxed()
    });
    let mut events = futures::stream::select_all(streams);

    let writer = reflector::store::Writer::<K>::default();
    let store = writer.as_reader();
    let subscribers = Subscribers::new();
    let watched = Watched {
        store: store.clone(),
        subscribers: subscribers.clone(),
    };
    let driver = async move {
        let mut writer = writer;
        let mut merge = Merge::<K>::new(scopes);
        let mut reported = HashSet::new();
        while let Some((index, event)) = events.next().await {
            let change = unguard(event, |invalid| {
                report_invalid::<K>(&recorder, &mut reported, invalid)
            });
            let Some(change) = change else { continue };
            for event in merge.handle(index, change, &store) {
                writer.apply_watcher_event(&event);
                match &event {
                    Event::Apply(obj) => {
                        if let Some(obj) = store.get(&ObjectRef::from_obj(obj)) {
                            subscribers.send(&obj);
                        }
                    }
                    Event::InitDone => {
                        let objects = store.state();
                        info!(kind = %K::kind(&()), objects = objects.len(), "cache synced");
                        for obj in objects {
                            subscribers.send(&obj);
                        }
                    }
                    _ => {}
                }
            }
        }
    };
    (watched, driver)
}

/// A watcher event of one namespace, with deleted or unreadable objects named by reference.
#[derive(Debug)]
pub(crate) enum Change<K: Watchable> {
    Apply(K),
    Delete(ObjectRef<K>),
    Init,
    InitApply(K),
    InitDone,
}

fn invalid_ref<K: Watchable>(invalid: &InvalidObject) -> ObjectRef<K> {
    let name = invalid.metadata.name.clone().unwrap_or_default();
    match &invalid.metadata.namespace {
        Some(ns) => ObjectRef::new(&name).within(ns),
        None => ObjectRef::new(&name),
    }
}

/// Unwraps the guard: an unreadable object is reported and treated as absent (a stale
/// readable version must not be reconciled either).
pub(crate) fn unguard<K: Watchable>(
    event: Event<DeserializeGuard<K>>,
    mut report: impl FnMut(&InvalidObject),
) -> Option<Change<K>> {
    Some(match event {
        Event::Apply(DeserializeGuard(Ok(obj))) => Change::Apply(obj),
        Event::InitApply(DeserializeGuard(Ok(obj))) => Change::InitApply(obj),
        Event::Apply(DeserializeGuard(Err(invalid))) => {
            report(&invalid);
            Change::Delete(invalid_ref(&invalid))
        }
        Event::InitApply(DeserializeGuard(Err(invalid))) => {
            report(&invalid);
            return None;
        }
        Event::Delete(DeserializeGuard(Ok(obj))) => Change::Delete(ObjectRef::from_obj(&obj)),
        Event::Delete(DeserializeGuard(Err(invalid))) => Change::Delete(invalid_ref(&invalid)),
        Event::Init => Change::Init,
        Event::InitDone => Change::InitDone,
    })
}

fn report_invalid<K: Watchable>(
    recorder: &Recorder,
    reported: &mut HashSet<(String, String)>,
    invalid: &InvalidObject,
) {
    let meta = &invalid.metadata;
    let version = (
        meta.uid.clone().unwrap_or_default(),
        meta.resource_version.clone().unwrap_or_default(),
    );
    if !reported.insert(version) {
        return;
    }
    warn!(
        kind = %K::kind(&()),
        namespace = meta.namespace.as_deref().unwrap_or_default(),
        name = meta.name.as_deref().unwrap_or_default(),
        error = %invalid.error,
        "skipping an object that cannot be read"
    );
    let reference = ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..ObjectReference::default()
    };
    let event = KubeEvent {
        type_: EventType::Warning,
        reason: "InvalidObject".into(),
        note: Some(truncate(format!(
            "the operator cannot read this object and skips it until it is fixed: {}",
            invalid.error
        ))),
        action: "Watch".into(),
        secondary: None,
    };
    let recorder = recorder.clone();
    tokio::spawn(async move {
        if let Err(err) = recorder.publish(&event, &reference).await {
            debug!(error = %err, "could not publish InvalidObject event");
        }
    });
}

fn truncate(mut text: String) -> String {
    const MAX: usize = 1000;
    if text.len() > MAX {
        let mut cut = MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// Merges the watcher events of several namespaces into the events of one store.
pub(crate) struct Merge<K: Watchable> {
    scopes: Vec<Option<String>>,
    synced: Vec<bool>,
    initialized: bool,
    /// Objects seen before every namespace finished its first listing.
    pending: HashMap<ObjectRef<K>, (usize, K)>,
    /// A namespace's relist in progress.
    relists: Vec<Option<HashMap<ObjectRef<K>, K>>>,
}

impl<K: Watchable> Merge<K> {
    pub(crate) fn new(scopes: Vec<Option<String>>) -> Self {
        let n = scopes.len();
        Self {
            scopes,
            synced: vec![false; n],
            initialized: false,
            pending: HashMap::new(),
            relists: (0..n).map(|_| None).collect(),
        }
    }

    /// The store events for `change` in namespace `index`; `store` is the merged store as
    /// written so far.
    pub(crate) fn handle(
        &mut self,
        index: usize,
        change: Change<K>,
        store: &Store<K>,
    ) -> Vec<Event<K>> {
        if !self.initialized {
            match change {
                Change::Apply(obj) | Change::InitApply(obj) => {
                    self.pending.insert(ObjectRef::from_obj(&obj), (index, obj));
                }
                Change::Delete(key) => {
                    self.pending.remove(&key);
                }
                Change::Init => {
                    self.synced[index] = false;
                    self.pending.retain(|_, (scope, _)| *scope != index);
                }
                Change::InitDone => {
                    self.synced[index] = true;
                    if self.synced.iter().all(|s| *s) {
                        self.initialized = true;
                        let mut events = vec![Event::Init];
                        events.extend(
                            self.pending
                                .drain()
                                .map(|(_, (_, obj))| Event::InitApply(obj)),
                        );
                        events.push(Event::InitDone);
                        return events;
                    }
                }
            }
            return Vec::new();
        }
        match change {
            Change::Apply(obj) => vec![Event::Apply(obj)],
            Change::Delete(key) => store
                .get(&key)
                .map(|obj| vec![Event::Delete(obj.as_ref().clone())])
                .unwrap_or_default(),
            Change::Init => {
                self.relists[index] = Some(HashMap::new());
                Vec::new()
            }
            Change::InitApply(obj) => match &mut self.relists[index] {
                Some(listed) => {
                    listed.insert(ObjectRef::from_obj(&obj), obj);
                    Vec::new()
                }
                None => vec![Event::Apply(obj)],
            },
            Change::InitDone => {
                let listed = self.relists[index].take().unwrap_or_default();
                let namespace = self.scopes[index].as_deref();
                let gone = store
                    .state()
                    .into_iter()
                    .filter(|obj| namespace.is_none() || obj.namespace().as_deref() == namespace)
                    .filter(|obj| !listed.contains_key(&ObjectRef::from_obj(obj.as_ref())))
                    .map(|obj| Event::Delete(obj.as_ref().clone()))
                    .collect::<Vec<_>>();
                gone.into_iter()
                    .chain(listed.into_values().map(Event::Apply))
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_retries_grow_to_five_seconds_and_start_again_after_success() {
        let mut backoff = WatchBackoff::default();
        let delays: Vec<_> = (&mut backoff).take(8).collect();
        assert!(delays[0] >= std::time::Duration::from_millis(400));
        assert!(delays[0] <= std::time::Duration::from_millis(600));
        assert!(
            delays
                .iter()
                .all(|d| *d <= std::time::Duration::from_secs(6))
        );
        assert!(delays[7] >= std::time::Duration::from_secs(4));
        backoff.reset();
        assert!(
            backoff
                .next()
                .is_some_and(|d| d <= std::time::Duration::from_millis(600))
        );
    }
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::core::ObjectMeta;

    fn cm(ns: &str, name: &str, value: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                ..ObjectMeta::default()
            },
            data: Some([("v".to_string(), value.to_string())].into()),
            ..ConfigMap::default()
        }
    }

    struct Harness {
        merge: Merge<ConfigMap>,
        writer: reflector::store::Writer<ConfigMap>,
        store: Store<ConfigMap>,
    }

    impl Harness {
        fn new(namespaces: &[&str]) -> Self {
            let writer = reflector::store::Writer::default();
            let store = writer.as_reader();
            let scopes = namespaces.iter().map(|n| Some(n.to_string())).collect();
            Self {
                merge: Merge::new(scopes),
                writer,
                store,
            }
        }

        fn feed(&mut self, index: usize, change: Change<ConfigMap>) -> Vec<String> {
            let events = self.merge.handle(index, change, &self.store);
            let mut names = Vec::new();
            for event in &events {
                self.writer.apply_watcher_event(event);
                names.push(match event {
                    Event::Apply(o) => format!("apply {}", o.name_any()),
                    Event::Delete(o) => format!("delete {}", o.name_any()),
                    Event::Init => "init".into(),
                    Event::InitApply(o) => format!("init-apply {}", o.name_any()),
                    Event::InitDone => "init-done".into(),
                });
            }
            names.sort();
            names
        }

        fn contents(&self) -> Vec<String> {
            let mut all: Vec<String> = self
                .store
                .state()
                .iter()
                .map(|o| {
                    format!(
                        "{}/{}={}",
                        o.namespace().unwrap_or_default(),
                        o.name_any(),
                        o.data.as_ref().unwrap()["v"]
                    )
                })
                .collect();
            all.sort();
            all
        }
    }

    #[test]
    fn the_store_is_ready_once_every_namespace_is_listed() {
        let mut h = Harness::new(&["a", "b"]);
        assert!(h.feed(0, Change::Init).is_empty());
        assert!(h.feed(0, Change::InitApply(cm("a", "x", "1"))).is_empty());
        assert!(h.feed(0, Change::InitDone).is_empty());
        // Namespace a moves on while b still lists: nothing is lost.
        assert!(h.feed(0, Change::Apply(cm("a", "y", "1"))).is_empty());
        assert!(h.feed(1, Change::Init).is_empty());
        assert!(h.feed(1, Change::InitApply(cm("b", "x", "1"))).is_empty());
        let events = h.feed(1, Change::InitDone);
        assert_eq!(events.first().map(String::as_str), Some("init"));
        assert_eq!(events.len(), 5);
        assert_eq!(h.contents(), vec!["a/x=1", "a/y=1", "b/x=1"]);
        assert!(h.store.get(&ObjectRef::new("x").within("b")).is_some());
    }

    #[test]
    fn a_relist_of_one_namespace_leaves_the_others_alone() {
        let mut h = Harness::new(&["a", "b"]);
        for (i, ns) in ["a", "b"].iter().enumerate() {
            h.feed(i, Change::Init);
            h.feed(i, Change::InitApply(cm(ns, "x", "1")));
            h.feed(i, Change::InitApply(cm(ns, "y", "1")));
            h.feed(i, Change::InitDone);
        }
        assert_eq!(h.contents(), vec!["a/x=1", "a/y=1", "b/x=1", "b/y=1"]);
        assert!(h.feed(0, Change::Init).is_empty());
        assert!(h.feed(0, Change::InitApply(cm("a", "x", "2"))).is_empty());
        assert!(h.feed(0, Change::InitApply(cm("a", "z", "1"))).is_empty());
        let events = h.feed(0, Change::InitDone);
        assert_eq!(events, vec!["apply x", "apply z", "delete y"]);
        assert_eq!(h.contents(), vec!["a/x=2", "a/z=1", "b/x=1", "b/y=1"]);
    }

    #[test]
    fn deletes_and_updates_pass_through_once_synced() {
        let mut h = Harness::new(&["a"]);
        h.feed(0, Change::Init);
        h.feed(0, Change::InitApply(cm("a", "x", "1")));
        h.feed(0, Change::InitDone);
        assert_eq!(h.feed(0, Change::Apply(cm("a", "x", "2"))), vec!["apply x"]);
        assert_eq!(
            h.feed(0, Change::Delete(ObjectRef::new("x").within("a"))),
            vec!["delete x"]
        );
        // Deleting what the store does not hold is a no-op.
        assert!(
            h.feed(0, Change::Delete(ObjectRef::new("x").within("a")))
                .is_empty()
        );
        assert!(h.contents().is_empty());
    }

    #[test]
    fn unreadable_objects_are_reported_and_dropped() {
        let invalid = || {
            DeserializeGuard::<ConfigMap>(Err(InvalidObject {
                error: "unknown variant".into(),
                metadata: cm("a", "bad", "1").metadata,
            }))
        };
        let mut reports = 0;
        assert!(unguard(Event::InitApply(invalid()), |_| reports += 1).is_none());
        match unguard(Event::Apply(invalid()), |_| reports += 1) {
            Some(Change::Delete(key)) => assert_eq!(key, ObjectRef::new("bad").within("a")),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(reports, 2);
        let good = unguard(
            Event::Apply(DeserializeGuard(Ok(cm("a", "ok", "1")))),
            |_| reports += 1,
        );
        assert!(matches!(good, Some(Change::Apply(_))));
        assert_eq!(reports, 2);

        // An object that turns unreadable leaves the store.
        let mut h = Harness::new(&["a"]);
        h.feed(0, Change::Init);
        h.feed(0, Change::InitApply(cm("a", "bad", "1")));
        h.feed(0, Change::InitDone);
        let change = unguard(Event::Apply(invalid()), |_| {}).expect("a change");
        assert_eq!(h.feed(0, change), vec!["delete bad"]);
    }
}
