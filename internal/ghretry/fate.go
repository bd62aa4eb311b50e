package ghretry

import (
	"errors"
	"net/http"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/fate"
)

// Fate marks an error from a go-github call with what it means for the
// intent, where the caller first sees it:
//
//   - a rate limit go-github reports itself: retry at its reset (or after
//     GitHub's Retry-After; a minute when it gives none);
//   - any other 4xx except 401, 408 and 429: GitHub refuses this request
//     and will refuse it again (404, 403 without a rate limit, 409, 422):
//     terminal, so the person is told instead of the queue retrying;
//   - everything else: unchanged. That is 5xx, 408, 429, network errors,
//     this package's own rate-limit deferrals (already marked), and 401:
//     GitHub refuses the credentials, not the request. An installation
//     token is revoked when the App is uninstalled; ghapp forgets that
//     installation on a 401, so the next attempt authenticates afresh (and
//     a token that stays bad ends at the queue's delivery limit).
//
// Callers that handle a status themselves (a 422 meaning "already exists")
// check it before calling Fate.
func Fate(err error, now time.Time) error {
	if err == nil {
		return nil
	}
	if k, _ := fate.Of(err); k != fate.Retryable {
		return err // marked where it was born
	}
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	var er *github.ErrorResponse
	switch {
	case errors.As(err, &rl):
		return fate.MarkRetryAt(err, rl.Rate.Reset.Time.Add(time.Second))
	case errors.As(err, &abuse):
		d := time.Minute
		if abuse.RetryAfter != nil {
			d = *abuse.RetryAfter
		}
		return fate.MarkRetryAt(err, now.Add(d))
	case errors.As(err, &er) && er.Response != nil:
		code := er.Response.StatusCode
		switch code {
		case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusTooManyRequests:
			return err
		}
		if code >= 400 && code < 500 {
			return fate.MarkTerminal(err)
		}
	}
	return err
}

// IsStatus reports whether err is GitHub answering with HTTP status code.
func IsStatus(err error, code int) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == code
}
