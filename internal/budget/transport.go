package budget

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

// grant is a granted reservation: the writes it covers, and the ones made.
type grant struct {
	b      *Budget
	acct   string
	id     string
	waited time.Duration

	mu      sync.Mutex
	left    int
	used    int
	last    time.Time
	settled bool
}

type grantKey struct{}

// take charges one write of acct to the reservation, if it covers it.
func (g *grant) take(acct string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.settled || acct != g.acct || g.left <= 0 {
		return false
	}
	g.left--
	g.used++
	g.last = now
	return true
}

// settle writes the reservation's real spend into the ledger: the writes
// made, at the time of the last one (the reservation's unused writes go
// back). A failure is logged: the open spend then ages out after HoldMax.
func (g *grant) settle() {
	g.mu.Lock()
	if g.settled {
		g.mu.Unlock()
		return
	}
	g.settled = true
	used, last := g.used, g.last
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.b.update(ctx, g.acct, func(st *state, _ time.Time) { st.settle(g.id, used, last) }); err != nil {
		g.b.log.Warn().Err(err).Str("installation", g.acct).Msg("write budget not settled; the reservation counts until it ages out")
	}
}

// Waited is how long the promotion whose reservation ctx carries waited in
// the line for it (0 without one).
func Waited(ctx context.Context) time.Duration {
	if g, ok := ctx.Value(grantKey{}).(*grant); ok {
		return g.waited
	}
	return 0
}

// Transport charges every content-creating request (POST, PATCH, PUT,
// DELETE) to the budget of the account it writes to: to the reservation the
// request's context carries (Reserve) while it covers it, else on its own,
// waiting in place for room while it is near, or failing with a *Delay
// (fate.RetryAt) when it is not. Put it below the retrying transport, so
// every attempt GitHub sees is charged. Reads pass free; so does the
// installation-token exchange, which is the App's, not an installation's.
// A nil budget returns next.
func (b *Budget) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if b == nil {
		return next
	}
	return &transport{b: b, next: next}
}

type transport struct {
	b    *Budget
	next http.RoundTripper
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if acct := t.b.accountOf(r); acct != "" {
		g, _ := r.Context().Value(grantKey{}).(*grant)
		if g == nil || !g.take(acct, t.b.now()) {
			if err := t.b.take(r.Context(), acct, 1); err != nil {
				if r.Body != nil {
					_ = r.Body.Close() // a RoundTripper closes the body, even when it sends nothing
				}
				return nil, err
			}
		}
	}
	return t.next.RoundTrip(r)
}

// accountOf is the account a request writes for; "" when it creates no
// content, or writes to no repository's installation.
func (b *Budget) accountOf(r *http.Request) string {
	switch r.Method {
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
	default:
		return ""
	}
	p := r.URL.Path
	if strings.HasSuffix(p, "/access_tokens") && strings.Contains(p, "/app/installations/") {
		return "" // the App's token exchange
	}
	if b.cfg.Token {
		return TokenAccount
	}
	// REST paths are /repos/{owner}/{repo}/..., after /api/v3 on GHES.
	_, rest, ok := strings.Cut(p, "/repos/")
	if !ok {
		return ""
	}
	owner, _, _ := strings.Cut(rest, "/")
	return b.Account(owner + "/")
}
