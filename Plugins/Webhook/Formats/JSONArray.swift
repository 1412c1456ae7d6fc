import SluicePluginSDK

/// `json`: the alerts' envelopes (docs/alerts.md) as a JSON array, to any URL, with the
/// configured method and headers; at most `maxAlertsPerRequest` alerts per request.
struct JSONArrayFormat: AlertFormat {
    static let name = "json"
    static let defaultRate = "0"
    let config: WebhookConfig

    init(_ config: WebhookConfig) throws {
        guard !config.url.isEmpty else { throw PluginError.error("format json needs 'url'") }
        self.config = config
    }

    func requests(_ alerts: [Alert]) -> [HTTPRequest] {
        stride(from: 0, to: alerts.count, by: config.maxAlertsPerRequest).map { start in
            let end = min(alerts.count, start + config.maxAlertsPerRequest)
            var body: [UInt8] = [UInt8(ascii: "[")]
            for i in start..<end {
                if i > start { body.append(UInt8(ascii: ",")) }
                body.append(contentsOf: alerts[i].jsonBytes)
            }
            body.append(UInt8(ascii: "]"))
            return HTTPRequest(url: config.url, method: config.method, headers: config.headers, body: body, alerts: Array(start..<end))
        }
    }
}
