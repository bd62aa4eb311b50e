package ghretry

import (
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-github/v60/github"
)

// Replayable reports whether the transport may send a request again when
// its outcome is unknown: the connection broke after the request went out,
// or GitHub answered 500, 502, 503 or 504 (a gateway answers so when the
// request timed out behind it, possibly after it took effect). A request
// that was never sent (the dial failed) or that GitHub refused with a rate
// limit is always sent again; this decides only the unknown cases.
//
// Requests that set a state are replayable: reads, PUT, PATCH, DELETE. A
// POST is replayable only when a repeat cannot double its effect:
//
//   - git data creates (blobs, trees, commits, tags) make content-addressed
//     objects; a repeat makes the same object, or an unreferenced twin;
//   - a ref or a pull request that already exists is refused with 422,
//     and the writer finds the existing one;
//   - labels and requested reviewers are sets;
//   - a commit status repeated for the same context changes nothing the
//     combined status shows;
//   - a reaction GitHub already has is answered 200 with the existing one;
//   - an installation token exchanged twice is two valid tokens.
//
// Every other POST is not: above all comments (issue, pull request and
// commit comments, reviews), which would be posted twice. For those the
// transport returns the failure and the caller looks the effect up before
// sending again (ChatOps finds its reply by its hidden marker).
func Replayable(method, path string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	case http.MethodPost:
	default:
		return false
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	// Enterprise Server (or a proxy) serves the API under a prefix.
	for i, s := range segs {
		if s == "repos" || s == "app" {
			segs = segs[i:]
			break
		}
	}
	for _, p := range replayablePosts {
		if matchSegments(p, segs) {
			return true
		}
	}
	return false
}

// replayablePosts are the POST routes Replayable allows ("*" is one
// segment). Keep the list and Replayable's comment in step.
var replayablePosts = [][]string{
	{"app", "installations", "*", "access_tokens"},
	{"repos", "*", "*", "git", "blobs"},
	{"repos", "*", "*", "git", "trees"},
	{"repos", "*", "*", "git", "commits"},
	{"repos", "*", "*", "git", "tags"},
	{"repos", "*", "*", "git", "refs"},
	{"repos", "*", "*", "pulls"},
	{"repos", "*", "*", "pulls", "*", "requested_reviewers"},
	{"repos", "*", "*", "issues", "*", "labels"},
	{"repos", "*", "*", "statuses", "*"},
	{"repos", "*", "*", "issues", "*", "reactions"},
	{"repos", "*", "*", "issues", "comments", "*", "reactions"},
	{"repos", "*", "*", "pulls", "comments", "*", "reactions"},
	{"repos", "*", "*", "comments", "*", "reactions"},
}

func matchSegments(pattern, segs []string) bool {
	if len(pattern) != len(segs) {
		return false
	}
	for i, p := range pattern {
		if segs[i] == "" || (p != "*" && p != segs[i]) {
			return false
		}
	}
	return true
}

// unsent reports whether a transport error proves the request never left:
// the connection could not be made at all.
func unsent(err error) bool {
	var oe *net.OpError
	var de *net.DNSError
	return (errors.As(err, &oe) && oe.Op == "dial") || errors.As(err, &de)
}

// MayHaveTakenEffect reports whether a failed GitHub call may nevertheless
// have been carried out: true for anything but GitHub's own refusal (a 4xx
// answer, a rate limit). A caller that creates something the transport does
// not replay (see Replayable) looks for it before creating it again.
func MayHaveTakenEffect(err error) bool {
	if err == nil {
		return false
	}
	var we *WaitError
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	var er *github.ErrorResponse
	switch {
	case errors.As(err, &we), errors.As(err, &rl), errors.As(err, &abuse):
		return false
	case errors.As(err, &er) && er.Response != nil:
		return er.Response.StatusCode >= 500
	}
	return !unsent(err)
}
