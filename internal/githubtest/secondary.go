package githubtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// ContentLimit is one of GitHub's content-creation limits: at most Limit
// content-generating requests (POST, PATCH, PUT, DELETE) in any Period.
// GitHub documents, in general, 80 a minute and 500 an hour
// (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits).
type ContentLimit struct {
	Period time.Duration
	Limit  int
}

// SecondaryLimiter enforces content-creation limits on the server's REST
// API the way GitHub does: a content-generating request beyond a limit is
// answered 403 with GitHub's secondary-rate-limit message, a Retry-After
// header and no X-RateLimit-* headers, and has no effect. Requests of the
// installation and of a token count (the server has one installation);
// the App's own JWT requests (the installation-token exchange) and
// unauthenticated ones do not, nor do refused ones. Make one with
// Server.LimitContent.
type SecondaryLimiter struct {
	limits []ContentLimit

	mu         sync.Mutex
	retryAfter time.Duration
	next       func(Call) *Fault
	accepted   []time.Time
	count      int
	refused    int
}

// SetRetryAfter makes every refusal carry Retry-After d, as api.github.com
// answers (60 s); zero, the default: the seconds until the window has room
// again, at least 1.
func (l *SecondaryLimiter) SetRetryAfter(d time.Duration) {
	l.mu.Lock()
	l.retryAfter = d
	l.mu.Unlock()
}

// LimitContent installs a SecondaryLimiter with limits as the server's
// fault hook, in front of the hook installed before (which sees the
// requests the limiter lets through); SetFault replaces both.
func (s *Server) LimitContent(limits ...ContentLimit) *SecondaryLimiter {
	l := &SecondaryLimiter{limits: limits}
	s.callMu.Lock()
	l.next = s.fault
	s.fault = l.fault
	s.callMu.Unlock()
	return l
}

// Accepted counts the content-generating requests let through.
func (l *SecondaryLimiter) Accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// Refused counts the secondary-rate-limit answers given.
func (l *SecondaryLimiter) Refused() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}

// MaxIn is the most accepted content-generating requests within any
// period-long window so far.
func (l *SecondaryLimiter) MaxIn(period time.Duration) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	most, j := 0, 0
	for i, t := range l.accepted { // accepted is in time order
		for !l.accepted[j].After(t.Add(-period)) {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

func contentGenerating(c Call) bool {
	switch c.Method {
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
	default:
		return false
	}
	return c.Auth == authInstallation.String() || c.Auth == authStatic.String()
}

func (l *SecondaryLimiter) fault(c Call) *Fault {
	l.mu.Lock()
	next := l.next
	if !contentGenerating(c) {
		l.mu.Unlock()
		return callNext(next, c)
	}
	now := time.Now()
	var wait time.Duration
	for _, lim := range l.limits {
		from := now.Add(-lim.Period)
		n, oldest := 0, -1
		for i := len(l.accepted) - 1; i >= 0 && l.accepted[i].After(from); i-- {
			n, oldest = n+1, i
		}
		if n >= lim.Limit {
			// Room again when enough of the window's requests have left it.
			leave := l.accepted[oldest+n-lim.Limit]
			wait = max(wait, leave.Add(lim.Period).Sub(now))
		}
	}
	if wait > 0 {
		l.refused++
		retryAfter := l.retryAfter
		l.mu.Unlock()
		return secondaryLimitFault(retryAfter, wait)
	}
	l.accepted = append(l.accepted, now)
	l.count++
	l.mu.Unlock()
	return callNext(next, c)
}

func callNext(next func(Call) *Fault, c Call) *Fault {
	if next == nil {
		return nil
	}
	return next(c)
}

// secondaryLimitFault is GitHub's answer to a content-creation limit, as
// recorded from api.github.com: 403, Retry-After, no X-RateLimit-* headers,
// the message naming the request id that X-GitHub-Request-Id carries.
func secondaryLimitFault(retryAfter, wait time.Duration) *Fault {
	secs := int(retryAfter / time.Second)
	if retryAfter <= 0 {
		secs = max(int((wait+time.Second-1)/time.Second), 1)
	}
	id := requestID()
	body, _ := json.Marshal(map[string]string{
		"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. " +
			"If you reach out to GitHub Support for help, please include the request ID " + id + ".",
		"documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
	})
	return &Fault{Status: http.StatusForbidden, Body: string(body), Header: http.Header{
		"Retry-After":           {strconv.Itoa(secs)},
		"X-Github-Request-Id":   {id},
		"X-Ratelimit-Limit":     nil,
		"X-Ratelimit-Remaining": nil,
		"X-Ratelimit-Used":      nil,
		"X-Ratelimit-Reset":     nil,
		"X-Ratelimit-Resource":  nil,
	}}
}
