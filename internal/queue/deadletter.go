package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a dead letter.
const (
	HeaderSubject      = "Promobot-Subject"
	HeaderMsgID        = "Promobot-Msg-Id"
	HeaderReason       = "Promobot-Reason"
	HeaderNumDelivered = "Promobot-Num-Delivered"
	HeaderStreamSeq    = "Promobot-Stream-Seq"
)

// maxReason caps the reason header; a reason is for people, not payloads.
const maxReason = 1024

// DeadLetter is a message that will not be retried, as read back from the
// dead-letter stream.
type DeadLetter struct {
	Seq          uint64    // sequence in PROMOBOT_DEAD
	Subject      string    // original subject
	MsgID        string    // original message id
	Reason       string    // why it was given up
	NumDelivered uint64    // deliveries before it was given up
	Time         time.Time // when it was dead-lettered
	Data         []byte    // original body
}

// deadLetter copies msg into the dead-letter stream, waits for the ack and
// returns the dead letter as stored.
func (q *Queue) deadLetter(msg jetstream.Msg, numDelivered uint64, reason string) (DeadLetter, error) {
	ctx, cancel := context.WithTimeout(context.Background(), q.cfg.PublishTimeout)
	defer cancel()
	id := msg.Headers().Get(jetstream.MsgIDHeader)
	var seq uint64
	if meta, err := msg.Metadata(); err == nil {
		seq = meta.Sequence.Stream
	}
	dl := &nats.Msg{
		Subject: q.cfg.DeadLetter + "." + msg.Subject(),
		Data:    msg.Data(),
		Header:  nats.Header{},
	}
	dl.Header.Set(HeaderSubject, msg.Subject())
	dl.Header.Set(HeaderMsgID, headerValue(id))
	dl.Header.Set(HeaderReason, headerValue(reason))
	dl.Header.Set(HeaderNumDelivered, strconv.FormatUint(numDelivered, 10))
	dl.Header.Set(HeaderStreamSeq, strconv.FormatUint(seq, 10))
	// The same message dead-lettered twice (Term lost) is stored once.
	dedup := "seq:" + strconv.FormatUint(seq, 10)
	if id != "" {
		dedup = "id:" + id
	}
	ack, err := q.js.PublishMsg(ctx, dl, jetstream.WithExpectStream(DeadLetterStream), jetstream.WithMsgID(dedup))
	if err != nil {
		return DeadLetter{}, fmt.Errorf("%w: dead letter: %w", ErrUnavailable, err)
	}
	return DeadLetter{Seq: ack.Sequence, Subject: msg.Subject(), MsgID: dl.Header.Get(HeaderMsgID), Reason: dl.Header.Get(HeaderReason),
		NumDelivered: numDelivered, Time: time.Now().UTC(), Data: msg.Data()}, nil
}

// DeadLetters reads every message in the dead-letter stream, oldest first.
// It is meant for tests and operators, not for hot paths.
func (q *Queue) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	s, err := q.js.Stream(ctx, DeadLetterStream)
	if err != nil {
		return nil, fmt.Errorf("%w: dead letters: %w", ErrUnavailable, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: dead letters: %w", ErrUnavailable, err)
	}
	var out []DeadLetter
	if info.State.Msgs == 0 {
		return out, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		raw, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // aged out or deleted by an operator
		}
		if err != nil {
			return nil, fmt.Errorf("%w: dead letter %d: %w", ErrUnavailable, seq, err)
		}
		out = append(out, parseDeadLetter(raw))
	}
	return out, nil
}

func parseDeadLetter(raw *jetstream.RawStreamMsg) DeadLetter {
	h := raw.Header
	// A malformed count (written by hand) reads as 0 rather than failing the listing.
	n, _ := strconv.ParseUint(h.Get(HeaderNumDelivered), 10, 64)
	return DeadLetter{
		Seq:          raw.Sequence,
		Subject:      h.Get(HeaderSubject),
		MsgID:        h.Get(HeaderMsgID),
		Reason:       h.Get(HeaderReason),
		NumDelivered: n,
		Time:         raw.Time,
		Data:         raw.Data,
	}
}

// headerValue makes s safe as a NATS header value: control characters
// (CR/LF would end the header) become spaces, and the length is capped at
// maxReason bytes without splitting a UTF-8 character.
func headerValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
