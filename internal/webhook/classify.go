package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/strictjson"
)

var (
	// ErrMalformed means the payload cannot be read (bad JSON, wrong shape):
	// the handler answers 400.
	ErrMalformed = errors.New("malformed payload")
	// ErrInvalid means the payload is well-formed but would produce an
	// intent that must not exist (a tag that is not an OCI tag, a bad ref):
	// the handler answers 202 so GitHub does not retry, and logs a warning.
	ErrInvalid = errors.New("invalid delivery")
)

// maxMessage bounds the commit message copied into an intent; the whole
// message is still searched for ticket keys. A 25 MiB commit message must
// not make an intent larger than the NATS payload limit.
const maxMessage = 4096

// Delivery is one webhook delivery as the handler received it.
type Delivery struct {
	Event string // X-GitHub-Event
	ID    string // X-GitHub-Delivery
	// Payload is the JSON body (already extracted from a form body).
	Payload []byte
	// InstallationID is used when the payload has no installation.id
	// (a repository webhook rather than an App delivery); the payload wins.
	InstallationID int64
	// Received stamps the intents' CreatedAt, keeping Classify pure.
	Received time.Time
}

// classification is what the handler logs about a delivery besides its intents.
type classification struct {
	installation int64
	repo         string // repository.full_name of the event
	action       string
	note         string // why nothing was produced, for the log line
	intents      []intent.Intent
	// change is set for an installation or installation_repositories
	// delivery: the handler passes it to Config.OnInstallation.
	change *InstallationChange
	// moved is set for a push to a GitOps repository's base branch: the
	// handler passes it to Config.OnPush.
	moved *BranchMoved
}

// A classifier turns one event type into intents. Each reads its event
// into a small struct naming only the members it uses (workflowRunEvent,
// pushEvent, issueCommentEvent, envelope), decoded by strictjson while the
// payload is checked.
//
// Why not go-github's ParseWebHook: it decodes the whole delivery into
// go-github's event structs (hundreds of fields, most of them pointers),
// which took about 40% of the handler's CPU on a 7 KB push, on top of a
// second full scan by encoding/json's validity check. strictjson has to
// look at every byte anyway, to refuse duplicate keys; decoding the
// fifteen-odd members a classifier reads during that same scan makes the
// payload's cost one pass. The signature check is still go-github's
// ValidateSignature.
type classifier func(sets *ruleSets, d Delivery, c *classification) error

var classifiers = map[string]classifier{
	"workflow_run":  handleSets(classifyWorkflowRunSets),
	"push":          handleSets(classifyPushSets),
	"issue_comment": handleSets(classifyCommentSets),
	"pull_request":  classifyPullRequests,
	"ping":          envelopeOnly("ping"),
	// Installation changes produce no intent: the handler tells
	// Config.OnInstallation, so that cached installation state is dropped.
	// They need no rules.
	"installation":              handleWithoutRules(classifyInstallation),
	"installation_repositories": handleWithoutRules(classifyInstallationRepositories),
	// Health gates and auto-merge (checks.go).
	"status":              handleSets(classifyStatusSets),
	"check_run":           handleSets(classifyCheckRunSets),
	"check_suite":         handle(classifyCheckSuite),
	"pull_request_review": handle(classifyReview),
}

// needsNoRules names the events classified without rules: the handler
// serves them while no rules are loaded.
func needsNoRules(event string) bool {
	return event == "installation" || event == "installation_repositories"
}

var (
	// otherInstallationEvent is any other installation_* event
	// (installation_target, say): answered as a ping.
	otherInstallationEvent = envelopeOnly("installation event")
	unhandledEvent         = envelopeOnly("event not handled")
)

var errNoRules = errors.New("no rules loaded")

// handle adapts a classifier of event type E: the payload is checked and
// decoded into an E, then fn classifies it.
func handle[E any](fn func(rs *rules.Rules, d Delivery, ev *E, c *classification) error) classifier {
	return decodeThen(fn, true)
}

// handleWithoutRules is handle for an event whose classification reads no
// rules (rs may be nil).
func handleWithoutRules[E any](fn func(rs *rules.Rules, d Delivery, ev *E, c *classification) error) classifier {
	return decodeThen(fn, false)
}

func decodeThen[E any](fn func(rs *rules.Rules, d Delivery, ev *E, c *classification) error, needRules bool) classifier {
	dec := strictjson.NewDecoder[E]()
	return func(sets *ruleSets, d Delivery, c *classification) error {
		rs := sets.server
		var ev E
		err := dec.Decode(d.Payload, &ev)
		// Errors come in the order Classify has always reported them:
		// unreadable JSON, then missing rules, then a member of the wrong type.
		if err != nil && !errors.Is(err, strictjson.ErrType) {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if rs == nil && needRules {
			return errNoRules
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return fn(rs, d, &ev, c)
	}
}

// Classify turns one delivery into zero or more intents, in a deterministic
// order, each validated. It reads only the payload and the rules. Errors wrap
// ErrMalformed (unreadable payload) or ErrInvalid (an intent that must not
// be published); on error no intent is returned.
func Classify(rs *rules.Rules, d Delivery) ([]intent.Intent, error) {
	c, err := classify(&ruleSets{server: rs}, d)
	if err != nil {
		return nil, err
	}
	return c.intents, nil
}

func classify(sets *ruleSets, d Delivery) (*classification, error) {
	c := &classification{installation: d.InstallationID}
	cl, ok := classifiers[d.Event]
	switch {
	case ok:
	case strings.HasPrefix(d.Event, "installation"):
		cl = otherInstallationEvent
	default:
		cl = unhandledEvent
	}
	if err := cl(sets, d, c); err != nil {
		c.intents, c.change = nil, nil
		return c, err
	}
	for i := range c.intents {
		if err := c.intents[i].Validate(); err != nil {
			c.intents = nil
			return c, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return c, nil
}

// envelope is what every event carries that the log line shows.
type envelope struct {
	Action       string       `json:"action"`
	Installation installation `json:"installation"`
	Repository   repoName     `json:"repository"`
}

type installation struct {
	ID int64 `json:"id"`
}

type repoName struct {
	FullName string `json:"full_name"`
}

// envelopeOnly classifies an event that produces no intent, for the log line.
func envelopeOnly(note string) classifier {
	return handle(func(_ *rules.Rules, _ Delivery, ev *envelope, c *classification) error {
		c.action = ev.Action
		c.setInstallation(ev.Installation.ID)
		c.repo = ev.Repository.FullName
		c.note = note
		return nil
	})
}

// setInstallation takes the payload's installation id, which wins over the
// one the handler was given.
func (c *classification) setInstallation(id int64) {
	if id != 0 {
		c.installation = id
	}
}

// newIntent fills the fields every intent carries.
func newIntent(d Delivery, c *classification, kind intent.Kind, svc *rules.Service) intent.Intent {
	return intent.Intent{
		ID:             intent.MsgID(d.ID, len(c.intents)),
		Kind:           kind,
		DeliveryID:     d.ID,
		Event:          d.Event,
		InstallationID: sameOwnerInstallation(c.installation, c.repo, svc.Repo),
		Repo:           svc.Repo,
		Services:       []string{svc.Name},
		CreatedAt:      d.Received,
	}
}

// sameOwnerInstallation keeps the delivery's installation only when the
// GitOps repository has the same owner as the event's repository: an App
// installed on two organisations has one installation each, and the
// worker looks the right one up when the id is 0.
func sameOwnerInstallation(id int64, eventRepo, gitopsRepo string) int64 {
	a, _, _ := strings.Cut(eventRepo, "/")
	b, _, _ := strings.Cut(gitopsRepo, "/")
	if !strings.EqualFold(a, b) {
		return 0
	}
	return id
}

// guessNames expands rs's generators over the directories the names could
// stand for (rules.Rules.ForNames). A guess never drops a delivery: an
// explicit service keeps its name, and should the guessing fail the rules
// are used as written. The worker decides against the repository itself.
func guessNames(rs *rules.Rules, names []string) *rules.Rules {
	if g, err := rs.ForNames(context.Background(), names); err == nil {
		return g
	}
	return rs
}

// guessPaths is guessNames for the changed paths of a push to repo
// (rules.Rules.ForPaths).
func guessPaths(rs *rules.Rules, repo string, paths []string) *rules.Rules {
	if g, err := rs.ForPaths(context.Background(), repo, paths); err == nil {
		return g
	}
	return rs
}

// generates reports whether a generator makes services in repo.
func generates(rs *rules.Rules, repo string) bool {
	for _, g := range rs.Generators {
		if strings.EqualFold(g.Repo, repo) {
			return true
		}
	}
	return false
}

// validSHA accepts a full SHA-1 or SHA-256 object name in lower-case hex.
func validSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return s != strings.Repeat("0", len(s))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func commitURL(repoHTML, sha string) string {
	if repoHTML == "" {
		return ""
	}
	return strings.TrimSuffix(repoHTML, "/") + "/commit/" + sha
}

// htmlBase derives e.g. https://github.com (or a GHES host) from the
// repository's html_url.
func htmlBase(repoHTML, fullName string) string {
	base, ok := strings.CutSuffix(strings.TrimSuffix(repoHTML, "/"), "/"+fullName)
	if !ok {
		return ""
	}
	return base
}
