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
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// GitHub's words for the outcome of a delivery attempt, the "status" of its
// record in the deliveries API. An attempt that got no HTTP answer at all
// has status_code 0.
const (
	// StatusOK is a 2xx answer.
	StatusOK = "OK"
	// StatusConnectFailed is an attempt that could not reach the receiver
	// (connection refused, no route, DNS).
	StatusConnectFailed = "failed to connect to host"
	// StatusTimedOut is an attempt the receiver did not answer within the
	// hook timeout (10 s on github.com; see SetWebhookTimeout).
	StatusTimedOut = "timed out"
)

// invalidResponse is GitHub's status for any answer outside 2xx.
func invalidResponse(code int) string { return fmt.Sprintf("Invalid HTTP Response: %d", code) }

// Delivery is one recorded webhook delivery attempt. A redelivery is a new
// attempt of the same event: it keeps the ID (X-GitHub-Delivery, the
// deliveries API's guid) and gets a HookDeliveryID of its own.
type Delivery struct {
	ID    string // X-GitHub-Delivery (the event's guid)
	Event string // X-GitHub-Event
	Body  []byte
	// Status is the receiver's HTTP status; 0 while queued, when no webhook URL
	// was configured, or when the request failed (see Err).
	Status     int
	Err        string
	Redelivery bool
	Sent       bool

	// HookDeliveryID is the attempt's id in the deliveries API
	// (GET /app/hook/deliveries); ids grow with every attempt.
	HookDeliveryID int64
	// StatusText is the attempt's status as GitHub records it: StatusOK,
	// "Invalid HTTP Response: 503", StatusConnectFailed or StatusTimedOut;
	// empty until it was sent.
	StatusText string
	// DeliveredAt is when the attempt was made; Duration how long it took.
	DeliveredAt time.Time
	Duration    time.Duration
	// From the payload: its action, installation and repository (0/"" when
	// it names none).
	Action         string
	InstallationID int64
	RepositoryID   int64
	Repo           string // owner/name

	url        string
	reqHeader  map[string]string
	respHeader http.Header
	respBody   []byte
}

// hooks sends deliveries in order from one goroutine, like GitHub.
type hooks struct {
	mu      sync.Mutex
	url     string
	secret  []byte
	queue   []*Delivery
	log     []*Delivery
	nextID  int64 // the deliveries API id of the last attempt
	pending int
	idle    chan struct{} // closed while nothing is pending
	wake    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	stopped chan struct{}
	client  *http.Client
	logf    func(string, ...any)
	appID   int64
	// repoHooks are the repositories' own webhooks (AddRepoHook): lower-case
	// owner/name → hook id.
	repoHooks map[string]int64
}

// githubHookTimeout is how long github.com waits for a webhook's answer.
const githubHookTimeout = 10 * time.Second

// firstHookDeliveryID makes the deliveries API's ids as large as GitHub's
// (they do not fit in 32 bits).
const firstHookDeliveryID = 90_000_000_000

func newHooks(appID int64, logf func(string, ...any)) *hooks {
	ctx, cancel := context.WithCancel(context.Background())
	h := &hooks{idle: make(chan struct{}), wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
		stopped: make(chan struct{}), client: &http.Client{Timeout: githubHookTimeout}, logf: logf, appID: appID,
		nextID: firstHookDeliveryID, repoHooks: map[string]int64{}}
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
	h.push(newDelivery(newUUID(), event, body))
}

// newDelivery records what the deliveries API says of an event from its payload.
func newDelivery(guid, event string, body []byte) *Delivery {
	d := &Delivery{ID: guid, Event: event, Body: body}
	var p struct {
		Action       *string `json:"action"`
		Installation *struct {
			ID int64 `json:"id"`
		} `json:"installation"`
		Repository *struct {
			ID       int64  `json:"id"`
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	if json.Unmarshal(body, &p) == nil {
		if p.Action != nil {
			d.Action = *p.Action
		}
		if p.Installation != nil {
			d.InstallationID = p.Installation.ID
		}
		if p.Repository != nil {
			d.RepositoryID, d.Repo = p.Repository.ID, p.Repository.FullName
		}
	}
	return d
}

func (h *hooks) push(d *Delivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx.Err() != nil {
		return
	}
	h.nextID++
	d.HookDeliveryID = h.nextID
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
			url, secret, client := h.url, h.secret, h.client
			h.mu.Unlock()
			at := time.Now()
			a := h.send(client, url, secret, d)
			h.mu.Lock()
			d.Status, d.Sent = a.status, url != ""
			if a.err != nil {
				d.Err = a.err.Error()
			}
			if d.Sent {
				d.url, d.DeliveredAt, d.Duration = url, at.UTC(), time.Since(at)
				d.StatusText, d.reqHeader, d.respHeader, d.respBody = a.text, a.reqHeader, a.respHeader, a.respBody
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

// attempt is the outcome of sending one delivery.
type attempt struct {
	status     int    // the receiver's HTTP status; 0 without an answer
	text       string // GitHub's status text
	err        error
	reqHeader  map[string]string
	respHeader http.Header
	respBody   []byte
}

// maxResponseKept bounds the receiver's answer kept for the deliveries API.
const maxResponseKept = 64 << 10

func (h *hooks) send(client *http.Client, url string, secret []byte, d *Delivery) attempt {
	if url == "" {
		return attempt{}
	}
	req, err := http.NewRequestWithContext(h.ctx, http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		return attempt{text: StatusConnectFailed, err: fmt.Errorf("new request: %w", err)}
	}
	// The headers as GitHub spells them (the deliveries API shows them so).
	hdr := map[string]string{
		"Accept":            "*/*",
		"content-type":      "application/json",
		"User-Agent":        "GitHub-Hookshot/044aadd",
		"X-GitHub-Event":    d.Event,
		"X-GitHub-Delivery": d.ID,
		"X-GitHub-Hook-ID":  strconv.FormatInt(appHookID, 10),
	}
	if h.appID != 0 {
		hdr["X-GitHub-Hook-Installation-Target-Type"] = "integration"
		hdr["X-GitHub-Hook-Installation-Target-ID"] = strconv.FormatInt(h.appID, 10)
	}
	if len(secret) > 0 {
		hdr["X-Hub-Signature-256"], hdr["X-Hub-Signature"] = sign(secret, d.Body)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	a := attempt{reqHeader: hdr}
	resp, err := client.Do(req)
	if err != nil {
		h.logf("githubtest: deliver %s %s: %v", d.Event, d.ID, err)
		a.text, a.err = StatusConnectFailed, fmt.Errorf("deliver: %w", err)
		if isTimeout(err) {
			a.text = StatusTimedOut
		}
		return a
	}
	defer resp.Body.Close()
	a.status, a.respHeader = resp.StatusCode, resp.Header.Clone()
	a.respBody, _ = io.ReadAll(io.LimitReader(resp.Body, maxResponseKept))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	a.text = invalidResponse(resp.StatusCode)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		a.text = StatusOK
	}
	h.logf("githubtest: delivered %s %s -> %d", d.Event, d.ID, resp.StatusCode)
	return a
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
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
		c.reqHeader, c.respHeader = maps.Clone(d.reqHeader), d.respHeader.Clone()
		c.respBody = append([]byte(nil), d.respBody...)
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
	s.hooks.push(redelivery(found))
	return nil
}

// redelivery is a new attempt of d's event.
func redelivery(d *Delivery) *Delivery {
	return &Delivery{ID: d.ID, Event: d.Event, Body: d.Body, Redelivery: true,
		Action: d.Action, InstallationID: d.InstallationID, RepositoryID: d.RepositoryID, Repo: d.Repo}
}

// Deliver sends a webhook of event with payload to the configured URL the way
// GitHub sends the events it makes itself (signed, in order, recorded in the
// deliveries API), for events the server does not make (workflow_run, say),
// and returns its delivery id (X-GitHub-Delivery).
func (s *Server) Deliver(event string, payload []byte) string {
	d := newDelivery(newUUID(), event, append([]byte(nil), payload...))
	s.hooks.push(d)
	return d.ID
}

// SetWebhookTimeout changes how long a delivery waits for the receiver's
// answer before GitHub records it as timed out (default 10 s, github.com's).
func (s *Server) SetWebhookTimeout(d time.Duration) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.client = &http.Client{Timeout: d}
}
