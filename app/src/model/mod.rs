//! The live page as plain Rust, with no Leptos or browser API in it: every tab's state is a
//! [`Live`], each thing that happens (an event from the `EventSource`, a message from another
//! tab, a click, a timer) is a method call on it, and each call returns the [`Command`]s the
//! glue in [`crate::live`] carries out. Tested natively (`cargo test -p app`).
//!
//! - [`feed`]: what the tab shows (latest event, log, counters) and the id to resume after.
//! - [`connection`]: the connection's state machine and its backoff; [`probe`]: what an
//!   answer of the stream's URL means for it.
//! - [`tabs`]: the protocol between the tabs of one browser.

pub mod connection;
pub mod feed;
pub mod probe;
pub mod tabs;

use crate::event::RenderedEvent;
use connection::{Connection, ConnectionState, Next, SourceState, Status};
use feed::{Feed, Item};
use probe::Probe;
use sse_hub::EventId;
use tabs::{Role, Sync, TabMessage};

/// What the glue must do for the model.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Posts the message to the other tabs.
    Post(TabMessage),
    /// (Re)opens this tab's `EventSource`, resuming after the id.
    Open(Option<EventId>),
    /// Closes this tab's `EventSource`, if it has one.
    Close,
    /// Asks the stream's URL what it answers now, then calls [`Live::probed`].
    Probe { generation: u32 },
    /// Calls [`Live::retry_due`] with `generation` at `at_ms` (`Date.now()`).
    ProbeAt { at_ms: f64, generation: u32 },
    /// Queues for the leader's lock; [`Live::lead_granted`] says whether to keep it.
    RequestLead,
    /// Gives the leader's lock to the next tab.
    ReleaseLead,
}

/// What this tab's `EventSource` reported.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceEvent {
    Opened,
    /// `browser_retries`: its `readyState` is CONNECTING; `offline`: the browser is offline.
    Errored {
        browser_retries: bool,
        offline: bool,
    },
    /// The server's `close` event.
    Closed,
    /// A heartbeat: the link is alive.
    Ping,
    Item(Item),
}

/// One tab's live page.
#[derive(Clone, Debug)]
pub struct Live {
    pub feed: Feed,
    pub connection: Connection,
    pub role: Role,
    pub sync: Sync,
    /// When the stream last showed life (data, ping, gap, open), or was (re)opened.
    last_sign: f64,
    /// The longest `retry:` the server sends: the browser retries within that.
    retry_max_ms: f64,
}

impl Live {
    /// A tab showing the event the page was rendered with; `Solo` until it joins other tabs.
    /// `seed` makes this tab's backoff jitter differ from other tabs'.
    pub fn new(rendered: Option<RenderedEvent>, retry_max_ms: f64, seed: u64) -> Self {
        Self {
            feed: Feed::new(rendered),
            connection: Connection::new(seed),
            role: Role::Solo,
            sync: Sync::default(),
            last_sign: 0.0,
            retry_max_ms,
        }
    }

    /// The tab joined the others as `tab`: it follows until it wins the lead.
    pub fn joined(&mut self, tab: u32) -> Vec<Command> {
        self.sync.tab = tab;
        self.role = Role::Follower;
        vec![Command::RequestLead, self.hello()]
    }

    /// The tab cannot join others: it connects alone.
    pub fn alone(&mut self, now: f64) -> Vec<Command> {
        self.role = Role::Solo;
        self.with_status_posted(|live| vec![live.connect(now)])
    }

    /// The leader's lock was granted: take the lead (`true`) unless paused.
    pub fn lead_granted(&mut self, now: f64) -> (bool, Vec<Command>) {
        if self.is_paused() {
            return (false, Vec::new());
        }
        self.role = Role::Leader;
        (true, self.with_status_posted(|live| vec![live.connect(now)]))
    }

    /// This tab's own `EventSource` reported `event` at `now`.
    pub fn source(&mut self, event: SourceEvent, now: f64) -> Vec<Command> {
        if !matches!(event, SourceEvent::Errored { .. }) {
            self.last_sign = now;
        }
        self.with_status_posted(|live| match event {
            SourceEvent::Opened => {
                live.connection.opened();
                Vec::new()
            }
            SourceEvent::Errored { browser_retries, offline } => {
                let next =
                    live.connection.errored(browser_retries, offline, now, live.retry_max_ms);
                live.carry_out(next, now)
            }
            SourceEvent::Closed => {
                live.connection.closed_by_server();
                vec![Command::Close]
            }
            SourceEvent::Ping => Vec::new(),
            SourceEvent::Item(item) => {
                let shared = (live.role == Role::Leader)
                    .then(|| Command::Post(TabMessage::Item(item.clone())));
                live.receive_item(item);
                shared.into_iter().collect()
            }
        })
    }

    /// A message from another tab.
    pub fn tab_message(&mut self, message: TabMessage) -> Vec<Command> {
        match message {
            TabMessage::Status(leader) => {
                self.follow(leader);
                // A Hello sent while no tab led went unanswered; this one has a leader.
                if self.sync.is_syncing() { vec![self.hello()] } else { Vec::new() }
            }
            TabMessage::Welcome { tab, status } => {
                if self.sync.is_welcomed(tab) {
                    self.follow(status);
                    self.sync.release().into_iter().for_each(|item| self.feed.apply(item));
                }
                Vec::new()
            }
            TabMessage::Hello { tab, after } => self.welcome(tab, after),
            TabMessage::Item(item) => {
                self.receive_item(item);
                Vec::new()
            }
        }
    }

    /// What a probe found.
    pub fn probed(&mut self, generation: u32, probe: Probe, now: f64) -> Vec<Command> {
        self.with_status_posted(|live| {
            let next = live.connection.probed(generation, probe, now);
            live.carry_out(next, now)
        })
    }

    /// The wait before the next probe is over.
    pub fn retry_due(&mut self, generation: u32, now: f64) -> Vec<Command> {
        self.with_status_posted(|live| {
            let next = live.connection.retry_due(generation);
            live.carry_out(next, now)
        })
    }

    /// Called every so often: reopens a connection that has been silent for over `limit_ms`
    /// (browsers can hang on a half-open TCP connection for minutes without an error).
    pub fn check_silence(&mut self, now: f64, limit_ms: f64) -> Vec<Command> {
        if !self.is_silent(now, limit_ms) {
            return Vec::new();
        }
        self.with_status_posted(|live| {
            let next = live.connection.went_silent();
            live.carry_out(next, now)
        })
    }

    /// Whether this tab's connection has been silent for over `limit_ms`: read-only, so the
    /// glue can ask every second without touching (and so redrawing from) the model.
    pub fn is_silent(&self, now: f64, limit_ms: f64) -> bool {
        let listening = self.role.holds_connection() && self.connection.state().is_listening();
        listening && now - self.last_sign > limit_ms
    }

    /// The browser went offline.
    pub fn offline(&mut self) -> Vec<Command> {
        if !self.role.holds_connection() {
            return Vec::new(); // Followers show what the leader tells them.
        }
        self.with_status_posted(|live| {
            live.connection.went_offline();
            Vec::new()
        })
    }

    /// The browser is back online; `source` is what this tab's `EventSource` is doing.
    pub fn online(&mut self, source: SourceState, now: f64) -> Vec<Command> {
        if !self.role.holds_connection() {
            return Vec::new();
        }
        self.with_status_posted(|live| {
            let next = live.connection.came_online(source, now, live.retry_max_ms);
            live.carry_out(next, now)
        })
    }

    /// The reader paused this tab: it closes its connection, or hands it to another tab.
    pub fn pause(&mut self) -> Vec<Command> {
        let mut commands = vec![Command::Close];
        if self.role == Role::Leader {
            commands.push(Command::ReleaseLead);
            self.role = Role::Follower;
        }
        self.connection.pause();
        commands
    }

    /// Shows every event since the pause, then live ones again.
    pub fn resume(&mut self, now: f64) -> Vec<Command> {
        match self.role {
            Role::Solo => vec![self.connect(now)],
            Role::Leader | Role::Follower => {
                self.connection.connecting();
                vec![Command::RequestLead, self.hello()]
            }
        }
    }

    pub fn is_paused(&self) -> bool {
        self.connection.state() == ConnectionState::Paused
    }

    /// Runs `change`, and has the leader tell the other tabs if the status changed.
    fn with_status_posted(
        &mut self,
        change: impl FnOnce(&mut Self) -> Vec<Command>,
    ) -> Vec<Command> {
        let before = self.connection.status();
        let mut commands = change(self);
        let after = self.connection.status();
        if self.role == Role::Leader && after != before {
            commands.push(Command::Post(TabMessage::Status(after)));
        }
        commands
    }

    fn carry_out(&mut self, next: Next, now: f64) -> Vec<Command> {
        match next {
            Next::Wait => Vec::new(),
            Next::Open => vec![self.connect(now)],
            Next::Probe { generation } => vec![Command::Close, Command::Probe { generation }],
            Next::ProbeAt { at_ms, generation } => vec![Command::ProbeAt { at_ms, generation }],
        }
    }

    /// Opens this tab's connection after the last event it showed. The server replays every
    /// event since, so what the tab held (while paused, or from another tab) is dropped.
    fn connect(&mut self, now: f64) -> Command {
        self.sync.reset();
        self.connection.connecting();
        self.last_sign = now;
        Command::Open(self.feed.resume_id())
    }

    fn hello(&mut self) -> Command {
        Command::Post(self.sync.hello(self.feed.resume_id()))
    }

    /// The leader answers a Hello: what it kept after `after`, then the Welcome.
    fn welcome(&self, tab: u32, after: Option<EventId>) -> Vec<Command> {
        if self.role != Role::Leader {
            return Vec::new();
        }
        let replay = self.feed.replay_after(after).cloned().map(Item::Data);
        let welcome = TabMessage::Welcome { tab, status: self.connection.status() };
        replay.map(TabMessage::Item).chain([welcome]).map(Command::Post).collect()
    }

    fn follow(&mut self, leader: Status) {
        if self.role == Role::Follower && !self.is_paused() {
            self.connection.follow(leader);
        }
    }

    fn receive_item(&mut self, item: Item) {
        if self.is_paused() || self.sync.is_syncing() {
            self.sync.hold(item);
        } else {
            self.feed.apply(item);
        }
    }
}

#[cfg(test)]
mod tests;
