package queue

import "errors"

// Message is one intent ready to publish: the subject it goes to, the
// JetStream message id that deduplicates it, and its encoded body.
type Message struct {
	Subject string
	ID      string
	Data    []byte
}

// ErrUnavailable means JetStream did not acknowledge a publish (NATS down,
// no stream quorum, timeout): the caller must not report success upstream.
var ErrUnavailable = errors.New("queue: jetstream unavailable")
