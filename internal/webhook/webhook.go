// Package webhook is promobot's HTTP intake, the part that faces GitHub. It
// verifies a GitHub delivery's HMAC-SHA256 signature, classifies the event
// into promotion intents, publishes them to the queue and answers 202 only
// once JetStream has acknowledged every one. An installation or
// installation_repositories delivery produces no intent: it is handed to
// Config.OnInstallation instead. It makes no GitHub API call and reads no
// repository, so it answers well within GitHub's 10 s limit.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
)

// DefaultMaxBody is GitHub's maximum payload size.
const DefaultMaxBody int64 = 25 << 20

// DefaultPublishTimeout bounds the wait for JetStream's acks, below
// GitHub's 10 s delivery timeout so a stalled queue yields a 503 GitHub
// records rather than a timeout.
const DefaultPublishTimeout = 8 * time.Second

// Publisher stores messages durably; nil means every message was acknowledged.
// *queue.Queue implements it.
type Publisher interface {
	Publish(ctx context.Context, msgs []queue.Message) error
}

// Config configures a Handler.
type Config struct {
	// Secret is the webhook secret; required unless Insecure.
	Secret []byte
	// Insecure, with an empty Secret, accepts unsigned deliveries (local
	// mode). New logs a loud warning. With a Secret set, signatures are
	// always checked.
	Insecure bool
	// Rules returns the rules in force (e.g. a hot-reloading store's
	// Current); nil from it answers 503.
	Rules     func() *rules.Rules
	Publisher Publisher
	Log       zerolog.Logger
	// Registerer receives the metrics; nil: no metrics are registered.
	Registerer prometheus.Registerer
	// MaxBody caps the request body; default DefaultMaxBody.
	MaxBody int64
	// PublishTimeout bounds Publish; default DefaultPublishTimeout.
	PublishTimeout time.Duration
	// Now stamps intents; default time.Now.
	Now func() time.Time
	// OnInstallation, when set, is told of every verified installation and
	// installation_repositories delivery (the App installed, removed,
	// suspended or given new permissions; repositories added or removed),
	// so that cached installation state can be dropped. It runs within
	// PublishTimeout; the delivery is answered 202 once it returns nil and
	// 503 (GitHub may redeliver) when it fails. Such deliveries publish no
	// intent. nil: they are answered 202 and only logged.
	OnInstallation func(ctx context.Context, ev InstallationChange) error
	// OnPush, when set, is told of every verified push that moved a GitOps
	// repository's base branch (whether or not it makes an intent), so the
	// status page can read the new head at once. It is a hint: it runs
	// within PublishTimeout, and a failure is logged, never answered.
	OnPush func(ctx context.Context, ev BranchMoved) error
	// RepoConfigs, when set, is the index of repositories' own
	// configurations that classification reads besides Rules
	// (repoconfigs.go); nil: the rules file alone.
	RepoConfigs RepoConfigs
	// RepoConfigPath is where a repository configures itself; "":
	// rules.DefaultRepoConfigPath.
	RepoConfigPath string
}

// Handler serves GitHub webhook deliveries; mount it at /webhook.
type Handler struct {
	cfg Config
	m   *metrics
	// macs recycles keyed HMAC-SHA256 states (*mac): hmac.New hashes the
	// key and allocates two digests, Reset only restores the keyed state.
	macs sync.Pool
}

// mac is one keyed HMAC-SHA256 state and room for its sum.
type mac struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if len(cfg.Secret) == 0 && !cfg.Insecure {
		return nil, errors.New("webhook: a webhook secret is required (or insecure local mode)")
	}
	if cfg.Rules == nil {
		return nil, errors.New("webhook: no rules source")
	}
	if cfg.Publisher == nil {
		return nil, errors.New("webhook: no publisher")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	if len(cfg.Secret) == 0 {
		cfg.Log.Warn().Msg("INSECURE MODE: webhook signatures are NOT verified; anyone who can reach /webhook can enqueue promotions. Never run this way outside a local test.")
	}
	h := &Handler{cfg: cfg, m: m}
	secret := bytes.Clone(cfg.Secret)
	h.macs.New = func() any { return &mac{h: hmac.New(sha256.New, secret)} }
	return h, nil
}

// Header names GitHub sends.
const (
	headerEvent     = "X-GitHub-Event"
	headerDelivery  = "X-GitHub-Delivery"
	headerSignature = "X-Hub-Signature-256"
)

// decision is the outcome of one request: what is answered, counted and logged.
type decision struct {
	status  int
	outcome string
	msg     string // log message
	err     error  // logged; never contains the secret or the signature
	public  string // error text for the response body
	c       *classification
}

// ServeHTTP handles one delivery. Order: method, body cap, signature,
// headers, content type, JSON checks, classification, publish (or, for an
// installation change, Config.OnInstallation).
//
// Content types: application/json, and GitHub's other option
// application/x-www-form-urlencoded whose "payload" field holds the JSON (the
// signature covers the raw form body). A missing Content-Type is read as
// JSON; anything else is refused with 415.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	event := r.Header.Get(headerEvent)
	id := r.Header.Get(headerDelivery)
	d := h.serve(w, r, event, id)
	h.m.deliveries.WithLabelValues(eventLabel(event), d.outcome).Inc()
	h.logDecision(event, id, d)
	if d.public != "" {
		writeJSON(w, d.status, errorBody{Error: d.public})
		return
	}
	n := 0
	if d.c != nil {
		n = len(d.c.intents)
	}
	writeOK(w, d.status, id, n)
}

// bodyPool recycles request body buffers: the body is only read while the
// request is served (intents copy what they keep), and a fresh ~8 KB
// buffer grown by doubling per delivery was a tenth of the handler's CPU.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody bounds the buffers kept for reuse.
const maxPooledBody = 1 << 20

func getBody(contentLength int64) *bytes.Buffer {
	b := bodyPool.Get().(*bytes.Buffer)
	b.Reset()
	if contentLength > 0 && contentLength <= maxPooledBody {
		// ReadFrom reads into free space of at least bytes.MinRead.
		b.Grow(int(contentLength) + bytes.MinRead)
	}
	return b
}

func putBody(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBody {
		bodyPool.Put(b)
	}
}

type okBody struct {
	Delivery string `json:"delivery"`
	Intents  int    `json:"intents"`
}

type errorBody struct {
	Error string `json:"error"`
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, event, id string) decision {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return decision{status: http.StatusMethodNotAllowed, outcome: OutcomeInvalid, msg: "method not allowed", public: "method not allowed"}
	}
	tooLarge := decision{status: http.StatusRequestEntityTooLarge, outcome: OutcomeTooLarge, msg: "body too large",
		public: fmt.Sprintf("body larger than %d bytes", h.cfg.MaxBody)}
	if r.ContentLength > h.cfg.MaxBody {
		return tooLarge
	}
	buf := getBody(r.ContentLength)
	defer putBody(buf)
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	body := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge
		}
		return decision{status: http.StatusBadRequest, outcome: OutcomeInvalid, msg: "reading body", err: err, public: "cannot read body"}
	}
	if len(h.cfg.Secret) > 0 {
		if !h.signatureValid(r.Header.Get(headerSignature), body) {
			return decision{status: http.StatusUnauthorized, outcome: OutcomeUnauthorized, msg: "signature missing or invalid", public: "invalid signature"}
		}
	}
	if !validEvent(event) {
		return decision{status: http.StatusBadRequest, outcome: OutcomeInvalid, msg: "missing or invalid " + headerEvent, public: "missing or invalid " + headerEvent}
	}
	if !validDeliveryID(id) {
		return decision{status: http.StatusBadRequest, outcome: OutcomeInvalid, msg: "missing or invalid " + headerDelivery, public: "missing or invalid " + headerDelivery}
	}
	payload, d, ok := extractPayload(r.Header.Get("Content-Type"), body)
	if !ok {
		return d
	}
	rs := h.cfg.Rules()
	if rs == nil && !needsNoRules(event) {
		return decision{status: http.StatusServiceUnavailable, outcome: OutcomeUnavailable, msg: "no rules loaded", public: "rules not loaded"}
	}
	c, err := classify(h.ruleSets(rs), Delivery{Event: event, ID: id, Payload: payload, Received: h.cfg.Now()})
	switch {
	case errors.Is(err, ErrMalformed):
		return decision{status: http.StatusBadRequest, outcome: OutcomeInvalid, msg: "malformed payload", err: err, public: "malformed payload", c: c}
	case errors.Is(err, ErrInvalid):
		// Accepted so GitHub does not retry a delivery that can never succeed.
		return decision{status: http.StatusAccepted, outcome: OutcomeInvalid, msg: "delivery produces an invalid intent; dropped", err: err, c: c}
	case err != nil:
		return decision{status: http.StatusServiceUnavailable, outcome: OutcomeUnavailable, msg: "classification failed", err: err, public: "cannot classify", c: c}
	}
	if c.change != nil {
		return h.installationChanged(r.Context(), c)
	}
	if c.moved != nil && h.cfg.OnPush != nil {
		h.branchMoved(r.Context(), id, c.moved)
	}
	if event == "ping" || strings.HasPrefix(event, "installation") {
		return decision{status: http.StatusOK, outcome: OutcomeIgnored, msg: c.note, c: c}
	}
	if len(c.intents) == 0 {
		return decision{status: http.StatusAccepted, outcome: OutcomeIgnored, msg: "nothing to do: " + c.note, c: c}
	}
	msgs := make([]queue.Message, 0, len(c.intents))
	for _, in := range c.intents {
		data, err := in.Marshal()
		if err != nil {
			return decision{status: http.StatusAccepted, outcome: OutcomeInvalid, msg: "intent does not encode; dropped", err: err, c: c}
		}
		msgs = append(msgs, queue.Message{Subject: in.Subject(), ID: in.ID, Data: data})
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.PublishTimeout)
	defer cancel()
	if err := h.cfg.Publisher.Publish(ctx, msgs); err != nil {
		return decision{status: http.StatusServiceUnavailable, outcome: OutcomeUnavailable, msg: "queue did not store the intents", err: err, public: "queue unavailable", c: c}
	}
	h.m.intents.Add(float64(len(msgs)))
	return decision{status: http.StatusAccepted, outcome: OutcomeAccepted, msg: "intents enqueued", c: c}
}

// installationChanged passes a verified installation change to
// Config.OnInstallation: 202 once it succeeded, 503 when it failed, as for
// a publish.
func (h *Handler) installationChanged(ctx context.Context, c *classification) decision {
	if h.cfg.OnInstallation == nil {
		return decision{status: http.StatusAccepted, outcome: OutcomeIgnored, msg: "installation change; nothing to tell: " + c.note, c: c}
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.PublishTimeout)
	defer cancel()
	if err := h.cfg.OnInstallation(ctx, *c.change); err != nil {
		return decision{status: http.StatusServiceUnavailable, outcome: OutcomeUnavailable, msg: "installation change not handled", err: err, public: "installation change not handled", c: c}
	}
	return decision{status: http.StatusAccepted, outcome: OutcomeAccepted, msg: "installation change handled: " + c.note, c: c}
}

// signatureValid accepts only "sha256=<hex>" in X-Hub-Signature-256; the
// SHA-1 X-Hub-Signature is never consulted. The HMAC is compared in
// constant time (hmac.Equal), as go-github's ValidateSignature does.
func (h *Handler) signatureValid(sig string, body []byte) bool {
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return false
	}
	var want [sha256.Size]byte
	for i := range want {
		hi, ok1 := unhex(hexSig[2*i])
		lo, ok2 := unhex(hexSig[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		want[i] = hi<<4 | lo
	}
	m := h.macs.Get().(*mac)
	defer h.macs.Put(m)
	m.h.Reset()
	m.h.Write(body)
	return hmac.Equal(m.h.Sum(m.sum[:0]), want[:])
}

// unhex decodes one hexadecimal digit, either case (as encoding/hex does).
func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func extractPayload(contentType string, body []byte) ([]byte, decision, bool) {
	if contentType == "" || contentType == "application/json" {
		// What GitHub sends, answered without parsing the media type.
		return body, decision{}, true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, decision{status: http.StatusUnsupportedMediaType, outcome: OutcomeInvalid, msg: "bad Content-Type", public: "unsupported content type"}, false
	}
	switch mt {
	case "application/json":
		return body, decision{}, true
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil || len(form["payload"]) != 1 {
			return nil, decision{status: http.StatusBadRequest, outcome: OutcomeInvalid, msg: "form body without a single payload field", err: err, public: "malformed form body"}, false
		}
		return []byte(form.Get("payload")), decision{}, true
	default:
		return nil, decision{status: http.StatusUnsupportedMediaType, outcome: OutcomeInvalid, msg: "unsupported Content-Type", public: "unsupported content type"}, false
	}
}

// validEvent: GitHub event names are short lower-case words with underscores.
func validEvent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validDeliveryID: GitHub sends a GUID; the id becomes part of the JetStream
// message id, so it must be a plain token.
func validDeliveryID(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (h *Handler) logDecision(event, id string, d decision) {
	var ev *zerolog.Event
	switch d.outcome {
	case OutcomeAccepted, OutcomeIgnored:
		ev = h.cfg.Log.Info()
	case OutcomeUnavailable:
		ev = h.cfg.Log.Error()
	default:
		ev = h.cfg.Log.Warn()
	}
	if ev == nil { // level disabled
		return
	}
	ev = ev.Str("delivery", clip(id)).Str("event", clip(event)).
		Str("outcome", d.outcome).Int("status", d.status)
	if d.c != nil {
		ev = ev.Int64("installation", d.c.installation).Str("repo", clip(d.c.repo))
		if d.c.action != "" {
			ev = ev.Str("action", clip(d.c.action))
		}
		if ch := d.c.change; ch != nil {
			ev = ev.Str("account", clip(ch.Account)).Int("repos", len(ch.Repos))
		}
		if len(d.c.intents) > 0 {
			arr := zerolog.Arr()
			for _, in := range d.c.intents {
				arr = arr.Dict(zerolog.Dict().Str("id", in.ID).Str("kind", string(in.Kind)).
					Str("repo", in.Repo).Strs("services", in.Services).
					Str("from", in.From).Str("env", in.To).Str("tag", in.Tag))
			}
			ev = ev.Array("intents", arr)
		}
	}
	if d.err != nil {
		ev = ev.AnErr("error", d.err)
	}
	ev.Msg(d.msg)
}

// clip bounds header and payload strings in log lines.
func clip(s string) string {
	if len(s) > 200 {
		return truncate(s, 200) + "…"
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		// Only plain structs of strings and ints are encoded here.
		b = []byte(`{"error":"internal"}`)
		status = http.StatusInternalServerError
	}
	b = append(b, '\n')
	setJSONHeaders(w.Header(), len(b))
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client may have gone; nothing to do about it
}

// writeOK answers a delivery that was handled. The delivery id passed
// validDeliveryID (a plain token), so it needs no JSON escaping; an empty id
// (refused requests never get here with one) is written as "".
func writeOK(w http.ResponseWriter, status int, id string, intents int) {
	if !validDeliveryID(id) {
		writeJSON(w, status, okBody{Delivery: id, Intents: intents})
		return
	}
	b := make([]byte, 0, 48+len(id))
	b = append(b, `{"delivery":"`...)
	b = append(b, id...)
	b = append(b, `","intents":`...)
	b = strconv.AppendInt(b, int64(intents), 10)
	b = append(b, "}\n"...)
	setJSONHeaders(w.Header(), len(b))
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client may have gone; nothing to do about it
}

// Header values shared by every response: net/http only reads them, and
// Header.Set or Add on them allocates anew (these slices are full).
var (
	headerJSON    = []string{"application/json"}
	headerNosniff = []string{"nosniff"}
)

// setJSONHeaders sets the headers of a JSON response of n bytes, as
// Header.Set would, without allocating for the fixed values.
func setJSONHeaders(hdr http.Header, n int) {
	hdr["Content-Type"] = headerJSON[:1:1]
	hdr["X-Content-Type-Options"] = headerNosniff[:1:1]
	hdr["Content-Length"] = []string{strconv.Itoa(n)}
}

// compile-time check that the queue satisfies the interface.
var _ Publisher = (*queue.Queue)(nil)

// BranchMoved is a push to a GitOps repository's base branch.
type BranchMoved struct {
	Repo   string `json:"repo"`
	Branch string `json:"branch"`
	After  string `json:"after"`
}

// branchMoved tells Config.OnPush; the delivery's fate does not depend on it.
func (h *Handler) branchMoved(ctx context.Context, id string, m *BranchMoved) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.PublishTimeout)
	defer cancel()
	if err := h.cfg.OnPush(ctx, *m); err != nil {
		h.cfg.Log.Warn().Err(err).Str("delivery", id).Str("repo", m.Repo).
			Msg("push not announced to the status page; it shows the new head after its next refresh")
	}
}
