/// The life of one alert key (issue 22): inactive → pending → firing → recovering →
/// resolved, as Prometheus' `for` / `keep_firing_for` and Grafana's Normal / Pending /
/// Alerting / Recovering have it. Pure: the time is passed in (a clock the caller owns, so
/// tests need no sleeps), nothing is read or written; it answers what to notify.
///
/// Each evaluation says whether the key is *alerting* (its `condition` holds) and whether it
/// is *healthy* (its `recover` expression holds; by default, not alerting). Between the two
/// (a recovery threshold's band) the key keeps its phase, as a Datadog monitor does.
struct AlertLifecycle: Codable, Equatable, Sendable {
    struct Settings: Codable, Equatable, Sendable {
        /// How long the condition must hold before the key fires (0: at once).
        var forMs: Int64 = 0
        /// How long the key must stay healthy before it resolves (0: at once): a brief
        /// recovery does not end the incident.
        var keepFiringMs: Int64 = 0
        /// While firing, notify again this often (0: never).
        var renotifyMs: Int64 = 0
    }

    enum Phase: Codable, Equatable, Sendable {
        case inactive
        /// Alerting since `since`, not yet for `forMs`.
        case pending(since: Int64)
        /// An incident open since `startsAt`, last notified at `notified`.
        case firing(startsAt: Int64, notified: Int64)
        /// Healthy since `since`, not yet for `keepFiringMs`: still the open incident.
        case recovering(startsAt: Int64, notified: Int64, since: Int64)
    }

    enum Notification: Equatable, Sendable {
        /// An incident opens (`startsAt`): the first notification of incident `incident`.
        case firing(incident: UInt32, startsAt: Int64)
        /// Still firing, `renotifyMs` after the last notification.
        case renotify(incident: UInt32, startsAt: Int64)
        /// The incident ends: healthy for `keepFiringMs` since `endsAt - keepFiringMs`.
        case resolved(incident: UInt32, startsAt: Int64, endsAt: Int64)
    }

    let settings: Settings
    private(set) var phase: Phase = .inactive
    /// Counts the incidents this key has had: the next one to open gets this number, so a
    /// trigger after a resolve is a new incident (PagerDuty opens a new one for it).
    /// The number the key's next (or open) incident has; AlertKeyTable gives each incident
    /// of its stage a number of its own, so a key forgotten and seen again never repeats one.
    var incident: UInt32 = 0

    init(_ settings: Settings) { self.settings = settings }

    /// A life as it was saved (AlertState).
    init(_ settings: Settings, phase: Phase, incident: UInt32) {
        self.settings = settings
        self.phase = phase
        self.incident = incident
    }

    /// Whether an incident is open (firing, or recovering and not yet resolved).
    var isOpen: Bool {
        switch phase {
        case .firing, .recovering: return true
        case .inactive, .pending: return false
        }
    }

    /// The key was evaluated at `now`: `alerting` when its condition holds, `healthy` when
    /// its recover expression holds (both false: in the band between, the phase holds).
    /// Then the time-driven steps up to `now` (see `tick`).
    mutating func evaluate(alerting: Bool, healthy: Bool, at now: Int64) -> [Notification] {
        switch phase {
        case .inactive:
            if alerting { phase = .pending(since: now) }
        case .pending:
            if !alerting { phase = .inactive }
        case let .firing(startsAt, notified):
            if healthy && !alerting { phase = .recovering(startsAt: startsAt, notified: notified, since: now) }
        case let .recovering(startsAt, notified, _):
            // Healthy for `keepFiringMs` without a break, or the incident goes on.
            if alerting || !healthy { phase = .firing(startsAt: startsAt, notified: notified) }
        }
        return tick(at: now)
    }

    /// What time alone does by `now`: a pending key fires after `forMs`, a recovering one
    /// resolves after `keepFiringMs`, a firing one is renotified every `renotifyMs`.
    mutating func tick(at now: Int64) -> [Notification] {
        switch phase {
        case .inactive:
            return []
        case let .pending(since):
            guard now - since >= settings.forMs else { return [] }
            // It fires when it has been alerting for `forMs`, not when it was next looked at.
            let startsAt = since + settings.forMs
            phase = .firing(startsAt: startsAt, notified: now)
            return [.firing(incident: incident, startsAt: startsAt)]
        case let .firing(startsAt, notified):
            guard settings.renotifyMs > 0, now - notified >= settings.renotifyMs else { return [] }
            phase = .firing(startsAt: startsAt, notified: now)
            return [.renotify(incident: incident, startsAt: startsAt)]
        case let .recovering(startsAt, _, since):
            guard now - since >= settings.keepFiringMs else { return [] }
            let resolved = Notification.resolved(incident: incident, startsAt: startsAt, endsAt: since + settings.keepFiringMs)
            phase = .inactive
            incident &+= 1
            return [resolved]
        }
    }
}
