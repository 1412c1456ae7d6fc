// Webhook — an alert publisher, written in Swift on libcurl, that delivers alerts where
// people look: Slack, Microsoft Teams, Datadog events, PagerDuty, Prometheus Alertmanager,
// or any URL as a JSON array. See README.md beside this file for every property.
//
// What it does per publish call: the format turns the alerts into requests (as few as the
// service allows), the HTTP client sends them (concurrently, connections reused, rate
// limited), and each alert's outcome goes back to the host: delivered; refused for good
// (a 4xx: not retried, the response body in the message); or "retry" (a 5xx, 408, 429,
// a timeout, a refused connection), with the service's Retry-After when it gave one.
// The host retries with backoff and jitter, and spools what still fails.
#if canImport(Glibc)
import Glibc
#endif
import SluicePluginSDK

@_cdecl("sluice_plugin_entry")
public func sluicePluginEntry() -> UnsafeRawPointer { exportPlugins(Webhook.self) }

/// The properties, read and checked once, when the stage is created.
struct WebhookConfig {
    var url: String
    var method: String
    var headers: [String]
    var title: Template
    var text: Template
    /// The text is the default `{payload}`: formats that show the payload as facts or
    /// annotations leave it out rather than say it twice.
    var textIsPayload: Bool
    var maxAlertsPerMessage: Int
    var maxAlertsPerRequest: Int
    var apiKey: String
    var site: String
    var routingKey: String
    var endpoint: String
    var severity: Template
    var source: Template
    var sourceType: String
    var tagKeys: [String]
    var paginate: Bool
    var alertName: Template
    var generatorURL: String
    var resolveAfterMs: Int
    /// alertmanager: static labels and annotations, name → template, in the order given.
    var labels: [(name: String, template: Template)]
    var annotations: [(name: String, template: Template)]

    static let defaultTitle = "{stage} alert in {namespace}/{pipeline}"
    static let defaultText = "{payload}"

    init(_ c: Context) throws {
        url = c.property("url") ?? ""
        endpoint = c.property("endpoint") ?? ""
        // Also checked at validate (the widgets file's `url` type); here too, as the value may
        // come from an environment that differs from the one validate saw.
        for (name, value) in [("url", url), ("endpoint", endpoint)] where !value.isEmpty {
            if let why = WebURL.problem(value) { throw PluginError.error("\(name): must be an http or https URL: \(why)") }
        }
        method = c.text("method", default: "POST").uppercased()
        guard ["POST", "PUT", "PATCH"].contains(method) else { throw PluginError.error("method '\(method)': use POST, PUT or PATCH") }
        headers = try WebhookConfig.headerLines(c.property("headers") ?? "")
        title = try Template(c.text("title", default: WebhookConfig.defaultTitle))
        let textSource = c.text("text", default: WebhookConfig.defaultText)
        text = try Template(textSource)
        textIsPayload = textSource == WebhookConfig.defaultText
        maxAlertsPerMessage = try c.int("maxAlertsPerMessage", default: 10)
        maxAlertsPerRequest = try c.int("maxAlertsPerRequest", default: 1000)
        guard maxAlertsPerMessage >= 1, maxAlertsPerRequest >= 1 else {
            throw PluginError.error("maxAlertsPerMessage and maxAlertsPerRequest must be at least 1")
        }
        apiKey = c.property("apiKey") ?? ""
        site = c.text("site", default: "datadoghq.com")
        guard site.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) else {
            throw PluginError.error("site '\(site)': a Datadog site such as datadoghq.com, datadoghq.eu, us3.datadoghq.com")
        }
        routingKey = c.property("routingKey") ?? ""
        severity = try Template(c.text("severity", default: "error"))
        source = try Template(c.text("source", default: "sluice:{namespace}/{pipeline}"))
        sourceType = c.text("sourceType", default: "sluice")
        tagKeys = c.list("tags")
        switch c.property("overflow") ?? "truncate" {
        case "", "truncate": paginate = false
        case "paginate": paginate = true
        case let other: throw PluginError.error("overflow '\(other)': truncate or paginate")
        }
        alertName = try Template(c.text("alertName", default: "{stage}"))
        generatorURL = c.property("generatorURL") ?? ""
        resolveAfterMs = try c.int("resolveAfterMs", default: 300_000)
        guard (1_000...2_592_000_000).contains(resolveAfterMs) else {
            throw PluginError.error("resolveAfterMs \(resolveAfterMs): between 1000 (a second) and 2592000000 (30 days)")
        }
        labels = try WebhookConfig.named(c.object("labels"), property: "labels", reserved: AlertmanagerFormat.sluiceLabels,
                                         why: "Sluice sets it (alertName sets alertname)")
        for (name, template) in labels {
            // A label is part of what Alertmanager tells alerts apart by: one that changes
            // from one notification to the next would make each a new alert.
            if let changing = template.changingPlaceholders.first {
                throw PluginError.error("labels.\(name): \(changing) changes from one alert of the same key to the next, and Alertmanager would take each for a new alert (put it in annotations)")
            }
        }
        annotations = try WebhookConfig.named(c.object("annotations"), property: "annotations", reserved: AlertmanagerFormat.sluiceAnnotations,
                                              why: "Sluice sets it (title sets summary, text sets description)")
    }

    /// `labels` / `annotations`: Alertmanager label names, none of `reserved`, each a template.
    static func named(_ entries: [(key: String, value: String)], property: String, reserved: [String],
                      why: String) throws -> [(name: String, template: Template)] {
        try entries.map { name, value in
            guard AlertmanagerFormat.isLabelName(name) else {
                throw PluginError.error("\(property): '\(name)' is not an Alertmanager label name ([a-zA-Z_][a-zA-Z0-9_]*)")
            }
            guard !reserved.contains(name) else { throw PluginError.error("\(property).\(name): \(why)") }
            do {
                return (name, try Template(value))
            } catch let e as PluginError {
                throw PluginError.error("\(property).\(name): \(e.description)")
            }
        }
    }

    /// `headers`: one "Name: value" per line.
    static func headerLines(_ text: String) throws -> [String] {
        try text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).compactMap { raw in
            let line = raw.trimmingCharacters(in: " \t")
            if line.isEmpty { return nil }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  line[..<colon].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                // Never quote the line: it may hold a token.
                throw PluginError.error("headers: each line must be 'Name: value' (a line without a valid name was given)")
            }
            return line
        }
    }

    /// The alert's severity: its own (ABI 1.5: the stage's `severity` setting) when it has
    /// one, else the `severity` property rendered.
    func severityText(_ alert: Alert) -> String {
        let own = alert.severity
        return own.allSatisfy(\.isWhitespace) ? severity.render(alert) : own
    }

    /// PagerDuty's severities (critical, error, warning, info), with the usual other
    /// words mapped to them (fatal, high, warn, low, p1…p5, sev1…sev5, …); anything else
    /// becomes "error".
    func pagerDutySeverity(_ alert: Alert) -> String {
        WebhookConfig.mappedSeverity(severityText(alert)) ?? "error"
    }

    /// Datadog's alert types for a firing alert: error, warning, info ("critical" is
    /// "error" there), or "success" when the `severity` property says so.
    func datadogAlertType(_ alert: Alert) -> String {
        let text = severityText(alert)
        if text.lowercased() == "success" { return "success" }
        switch WebhookConfig.mappedSeverity(text) ?? "error" {
        case "warning": return "warning"
        case "info": return "info"
        default: return "error"
        }
    }

    /// critical, error, warning or info for the words people use for them; nil otherwise.
    static func mappedSeverity(_ text: String) -> String? {
        switch text.trimmingCharacters(in: " \t").lowercased() {
        case "critical", "crit", "fatal", "emergency", "emerg", "page", "p1", "sev1": return "critical"
        case "error", "err", "high", "major", "p2", "sev2": return "error"
        case "warning", "warn", "medium", "minor", "p3", "sev3": return "warning"
        case "info", "information", "informational", "notice", "low", "p4", "p5", "sev4", "sev5": return "info"
        default: return nil
        }
    }
}

extension Context {
    /// The property's text, or `fallback` when it is not set or empty.
    func text(_ name: String, default fallback: String) -> String {
        guard let v = property(name), !v.isEmpty else { return fallback }
        return v
    }
}

public struct Webhook: AlertPublisher {
    public static let name = "Webhook"
    public static let version = "1.0.0"

    let format: any AlertFormat
    let formatName: String
    let sendsRefreshes: Bool
    let client: HTTPClient

    public init(context: Context, emitter: Emitter) throws {
        let config = try WebhookConfig(context)
        let chosen = context.text("format", default: "auto")
        let type: any AlertFormat.Type
        if chosen == "auto" {
            type = Formats.detect(url: config.url, apiKey: config.apiKey, routingKey: config.routingKey)
        } else if let known = Formats.named(chosen) {
            type = known
        } else {
            throw PluginError.error("format '\(chosen)': one of auto, \(Formats.all.map { $0.name }.joined(separator: ", "))")
        }
        format = try type.init(config)
        formatName = type.name
        sendsRefreshes = type.sendsRefreshes
        var settings = HTTPClient.Settings()
        settings.connectTimeoutMs = try context.int("connectTimeoutMs", default: 5_000)
        settings.timeoutMs = try context.int("timeoutMs", default: 10_000)
        settings.maxInFlight = try context.int("maxInFlight", default: 8)
        settings.http2 = context.property("http2") != "false"
        settings.caFile = context.property("caFile") ?? ""
        settings.rate = try RateLimit.parse(context.text("rateLimit", default: type.defaultRate))
        settings.maxRateWaitMs = try context.int("maxRateWaitMs", default: 10_000)
        guard (1...3_600_000).contains(settings.connectTimeoutMs), (1...3_600_000).contains(settings.timeoutMs),
              (1...256).contains(settings.maxInFlight), (0...3_600_000).contains(settings.maxRateWaitMs) else {
            throw PluginError.error("connectTimeoutMs and timeoutMs must be 1 to 3600000, maxInFlight 1 to 256, maxRateWaitMs 0 to 3600000")
        }
        client = try HTTPClient(settings: settings, label: type.name)
        emitter.log(.info, "delivering alerts as \(type.name)" + (settings.rate.map { ", at most \($0.text)" } ?? ""))
    }

    public mutating func publish(_ alerts: Alerts, _ out: Emitter) throws {
        guard !alerts.isEmpty else { return }
        // "refresh" notifications (still firing, nothing new) go only to a service that
        // forgets alerts not sent again (Alertmanager); for the others they are delivered
        // by sending nothing. `toSend[j]` is the index among `alerts` of the j-th one sent.
        let toSend = alerts.indices.filter { sendsRefreshes || !alerts[$0].isRefresh }
        if toSend.count < alerts.count { out.count("refreshes_skipped", Int64(alerts.count - toSend.count)) }
        guard !toSend.isEmpty else { return }
        let requests = format.requests(toSend.map { alerts[$0] }).map { request -> HTTPRequest in
            var r = request
            r.alerts = request.alerts.compactMap { $0 >= 0 && $0 < toSend.count ? toSend[$0] : nil }
            return r
        }
        for note in format.takeNotes() { out.log(.warn, "\(formatName): \(note)") }
        let results = client.send(requests)
        // An alert is delivered when every request carrying it was; otherwise the worst
        // outcome wins: refused for good, then "retry" (with the longest Retry-After).
        var failed = [String?](repeating: nil, count: alerts.count)
        var retry = [String?](repeating: nil, count: alerts.count)
        var after = [Int](repeating: 0, count: alerts.count)
        var sent = 0
        for (request, result) in zip(requests, results) {
            for i in request.alerts where i >= 0 && i < alerts.count {
                switch result {
                case .delivered: break
                case .failed(let why): failed[i] = failed[i] ?? why
                case .retry(let why, let ms):
                    retry[i] = retry[i] ?? why
                    after[i] = max(after[i], ms)
                }
            }
            if case .delivered = result { sent += 1 }
        }
        out.count("requests", Int64(requests.count))
        out.count("requests_failed", Int64(requests.count - sent))
        out.count("bodies_built", Int64(requests.reduce(0) { $0 + $1.bodyBuilds }))
        for i in 0..<alerts.count {
            if let why = failed[i] {
                out.outcome(i, ok: false, why)
            } else if let why = retry[i] {
                out.outcome(i, ok: false, retry: true, why)
                if after[i] > 0 { out.retryAfter(i, milliseconds: UInt64(after[i])) }
            }
        }
    }
}
