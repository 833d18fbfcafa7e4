"""Notifications: telling subscribers about changes as they are recorded.

- filters.py: which changes a subscription wants (sources, sites, tags, items, fields,
  significance classes, kinds of change)
- subscriptions.py: adding, listing and removing subscriptions, and keeping those of
  redline.toml's [[notify]] tables in step with it
- outbox.py: the deliveries a check writes in the transaction that records its changes
- message.py: what a delivery says (the JSON of a webhook, the text of a notification)
- targets.py: sending one message: a signed webhook POST, or an Apprise notification
- fediverse.py: posting on Mastodon, one thread per item, each edit with its picture
- sender.py: the daemon's sending rounds: due deliveries, in order per item, rate
  limited per subscription, retried with backoff, given up ("dead") after a while
- settings.py: [notifications], how the daemon sends (rates, retries, claims)
- quiet.py: health alerts: a source gone quiet (no good answer, or no new item, for
  longer than expected), and back
"""
