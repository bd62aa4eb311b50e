package githubtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Delivery is one recorded webhook delivery.
type Delivery struct {
	ID    string // X-GitHub-Delivery
	Event string // X-GitHub-Event
	Body  []byte
	// Status is the receiver's HTTP status; 0 while queued, when no webhook URL
	// was configured, or when the request failed (see Err).
	Status     int
	Err        string
	Redelivery bool
	Sent       bool
}

// hooks sends deliveries in order from one goroutine, like GitHub.
type hooks struct {
	mu      sync.Mutex
	url     string
	secret  []byte
	queue   []*Delivery
	log     []*Delivery
	pending int
	idle    chan struct{} // closed while nothing is pending
	wake    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	stopped chan struct{}
	client  *http.Client
	logf    func(string, ...any)
	appID   int64
}

func newHooks(appID int64, logf func(string, ...any)) *hooks {
	ctx, cancel := context.WithCancel(context.Background())
	h := &hooks{idle: make(chan struct{}), wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
		stopped: make(chan struct{}), client: &http.Client{Timeout: 10 * time.Second}, logf: logf, appID: appID}
	close(h.idle)
	go h.loop()
	return h
}

func (h *hooks) set(url string, secret []byte) {
	h.mu.Lock()
	h.url, h.secret = url, append([]byte(nil), secret...)
	h.mu.Unlock()
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

func (h *hooks) enqueue(event string, payload any) {
	body, err := json.Marshal(payload)
	if err != nil {
		h.logf("githubtest: marshal %s payload: %v", event, err)
		return
	}
	h.push(&Delivery{ID: newUUID(), Event: event, Body: body})
}

func (h *hooks) push(d *Delivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx.Err() != nil {
		return
	}
	h.log = append(h.log, d)
	h.queue = append(h.queue, d)
	if h.pending == 0 {
		h.idle = make(chan struct{})
	}
	h.pending++
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *hooks) loop() {
	defer close(h.stopped)
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.wake:
		}
		for {
			h.mu.Lock()
			if len(h.queue) == 0 || h.ctx.Err() != nil {
				h.mu.Unlock()
				break
			}
			d := h.queue[0]
			h.queue = h.queue[1:]
			url, secret := h.url, h.secret
			h.mu.Unlock()
			status, err := h.send(url, secret, d)
			h.mu.Lock()
			d.Status, d.Sent = status, url != ""
			if err != nil {
				d.Err = err.Error()
			}
			h.pending--
			if h.pending == 0 {
				close(h.idle)
			}
			h.mu.Unlock()
		}
	}
}

func sign(secret, body []byte) (sha256sig, sha1sig string) {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	m1 := hmac.New(sha1.New, secret)
	m1.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil)), "sha1=" + hex.EncodeToString(m1.Sum(nil))
}

func (h *hooks) send(url string, secret []byte, d *Delivery) (int, error) {
	if url == "" {
		return 0, nil
	}
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		return 0, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/044aadd")
	req.Header.Set("X-GitHub-Event", d.Event)
	req.Header.Set("X-GitHub-Delivery", d.ID)
	req.Header.Set("X-GitHub-Hook-ID", "1")
	if h.appID != 0 {
		req.Header.Set("X-GitHub-Hook-Installation-Target-Type", "integration")
		req.Header.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(h.appID, 10))
	}
	if len(secret) > 0 {
		s256, s1 := sign(secret, d.Body)
		req.Header.Set("X-Hub-Signature-256", s256)
		req.Header.Set("X-Hub-Signature", s1)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.logf("githubtest: deliver %s %s: %v", d.Event, d.ID, err)
		return 0, fmt.Errorf("deliver: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	h.logf("githubtest: delivered %s %s -> %d", d.Event, d.ID, resp.StatusCode)
	return resp.StatusCode, nil
}

func (h *hooks) close() {
	h.cancel()
	<-h.stopped
	h.mu.Lock()
	if h.pending > 0 {
		h.pending = 0
		h.queue = nil
		close(h.idle)
	}
	h.mu.Unlock()
}

// WaitIdle returns once every queued delivery has been sent and answered.
func (s *Server) WaitIdle(ctx context.Context) error {
	s.hooks.mu.Lock()
	ch := s.hooks.idle
	s.hooks.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for webhook deliveries: %w", ctx.Err())
	}
}

// Deliveries returns copies of all recorded deliveries, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	out := make([]Delivery, 0, len(s.hooks.log))
	for _, d := range s.hooks.log {
		c := *d
		c.Body = append([]byte(nil), d.Body...)
		out = append(out, c)
	}
	return out
}

// Redeliver queues a recorded delivery again with the same delivery id and body.
func (s *Server) Redeliver(deliveryID string) error {
	s.hooks.mu.Lock()
	var found *Delivery
	for _, d := range s.hooks.log {
		if d.ID == deliveryID {
			found = d
			break
		}
	}
	s.hooks.mu.Unlock()
	if found == nil {
		return fmt.Errorf("delivery %s not found", deliveryID)
	}
	s.hooks.push(&Delivery{ID: found.ID, Event: found.Event, Body: found.Body, Redelivery: true})
	return nil
}
