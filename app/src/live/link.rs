//! One connection for all of a browser's tabs on this page.
//!
//! Browsers allow 6 HTTP/1.1 connections per origin, so a 7th tab holding its own
//! `EventSource` would hang without a word. Instead the tabs elect a leader with the Web Locks
//! API (the lock is held until the leader releases it or its tab goes away, and the next tab
//! waiting gets it) and the leader shares what its `EventSource` receives over a
//! `BroadcastChannel`. A browser without either API gets `None` from [`TabLink::join`], and the
//! tab holds a connection of its own. What the tabs say is [`TabMessage`], as one JSON text.

use crate::model::tabs::TabMessage;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::{BroadcastChannel, MessageEvent};

/// The lock whose holder keeps the connection, and the channel it shares events on; both are
/// scoped to the page's origin by the browser.
const LEADER_LOCK: &str = "livenames-sse";
const CHANNEL: &str = "livenames";

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks`; web-sys has it only behind `web_sys_unstable_apis`.
    type LockManager;

    #[wasm_bindgen(method)]
    fn request(this: &LockManager, name: &str, callback: &js_sys::Function) -> js_sys::Promise;
}

/// This tab's membership in the group of tabs: its channel, and its hold on the lock.
pub struct TabLink {
    channel: BroadcastChannel,
    locks: LockManager,
    /// Resolves the promise the lock is held by: calling it releases the lock.
    release: Rc<RefCell<Option<js_sys::Function>>>,
    /// Keeps the channel's message listener alive as long as the link.
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl TabLink {
    /// Joins the other tabs, handing every message they post to `on_message`; `None` where
    /// the browser has no Web Locks or `BroadcastChannel`.
    pub fn join(on_message: impl Fn(TabMessage) + 'static) -> Option<Self> {
        let navigator = web_sys::window()?.navigator();
        let locks = js_sys::Reflect::get(&navigator, &JsValue::from_str("locks")).ok()?;
        if locks.is_undefined() {
            return None;
        }
        let channel = BroadcastChannel::new(CHANNEL).ok()?;
        let on_message = Closure::new(move |event: MessageEvent| {
            let text = event.data().as_string().unwrap_or_default();
            // Another version of the page (an old tab) may say what this one cannot read.
            if let Ok(message) = serde_json::from_str(&text) {
                on_message(message);
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Some(Self {
            channel,
            locks: locks.unchecked_into(),
            release: Rc::default(),
            _on_message: on_message,
        })
    }

    /// Queues for the leader's lock. Once it is granted, `on_granted` says whether this tab
    /// takes the lead (`true`: the lock is kept until [`TabLink::release`]) or not after all
    /// (`false`: it is released at once, for the next tab in the queue).
    pub fn request_lead(&self, on_granted: impl FnOnce() -> bool + 'static) {
        let release = Rc::clone(&self.release);
        let granted = Closure::once_into_js(move |_lock: JsValue| -> js_sys::Promise {
            if !on_granted() {
                return js_sys::Promise::resolve(&JsValue::UNDEFINED);
            }
            js_sys::Promise::new(&mut |resolve, _reject| *release.borrow_mut() = Some(resolve))
        });
        // The returned promise settles when the lock is released; nothing waits for it.
        let _ = self.locks.request(LEADER_LOCK, granted.unchecked_ref());
    }

    /// Gives up the lead, if this tab has it; the next tab in the queue takes over.
    pub fn release(&self) {
        if let Some(resolve) = self.release.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }

    /// Sends `message` to every other tab of the group (not to this one).
    pub fn post(&self, message: &TabMessage) {
        let text = serde_json::to_string(message).expect("tab messages encode to JSON");
        let _ = self.channel.post_message(&JsValue::from_str(&text));
    }

    /// Releases the lead and leaves the channel.
    pub fn leave(&self) {
        self.release();
        self.channel.close();
    }
}
