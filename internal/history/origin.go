package history

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// The trailers promobot writes into its commits (planner's commit message)
// and the lines GitHub writes when it merges a pull request.
var (
	intentRe    = regexp.MustCompile(`(?m)^Promobot-Intent: (\S{1,200})\r?$`)
	kindRe      = regexp.MustCompile(`(?m)^Promobot-Kind: ([a-z]{1,20})\r?$`)
	requesterRe = regexp.MustCompile(`(?m)^Promobot-Requester: @?([A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?)\r?$`)
	gateRe      = regexp.MustCompile(`(?m)^Promobot-Gate: ([^\r\n()]{1,100}) \((open|waiting|closed)\)\r?$`)
	ticketRe    = regexp.MustCompile(`(?m)^Ticket: ([A-Za-z][A-Za-z0-9_]*-[0-9]+)\r?$`)
	titleKeyRe  = regexp.MustCompile(`(?m)^Promote .* \[([A-Za-z][A-Za-z0-9_]*-[0-9]+)\](?: \(#[0-9]+\))?\r?$`)
	sourceRe    = regexp.MustCompile(`(?m)^Source: (\S{1,300})\r?$`)
	mergeRe     = regexp.MustCompile(`^Merge pull request #([0-9]{1,9}) from (\S+)`)
	squashRe    = regexp.MustCompile(`\(#([0-9]{1,9})\)$`)
)

// maxGates bounds the gate trailers read from one message.
const maxGates = 32

// origin says how commit c came. A merge commit of a pull request is read
// with its merged branch's tip, which carries promobot's trailers; a
// squash merge carries them in its own message. A promobot commit that
// names no pull request is direct (the caller turns it into a rebased pull
// request when the environment is not direct).
func (w *walker) origin(c *object.Commit) (Origin, error) {
	first := subject(c.Message)
	msg := c.Message
	o := Origin{Via: ViaHand}
	if m := mergeRe.FindStringSubmatch(first); m != nil && len(c.ParentHashes) > 1 {
		o.PR, _ = strconv.Atoi(m[1])
		if _, b, ok := strings.Cut(m[2], "/"); ok {
			o.Branch = b
		}
		tip, err := object.GetCommit(w.st, c.ParentHashes[1])
		switch {
		case err == nil:
			msg = tip.Message + "\n" + c.Message
		case !errors.Is(err, plumbing.ErrObjectNotFound):
			return Origin{}, fmt.Errorf("history: read commit %s: %w", c.ParentHashes[1], err)
		}
	} else if m := squashRe.FindStringSubmatch(first); m != nil {
		o.PR, _ = strconv.Atoi(m[1])
	}
	readTrailers(&o, msg)
	switch {
	case o.Intent != "" && o.PR == 0 && len(c.ParentHashes) <= 1:
		o.Via = ViaDirect
	case o.Intent != "" || (o.PR != 0 && w.promobotBranch(o.Branch)):
		o.Via = ViaPR
	}
	return o, nil
}

// readTrailers fills what promobot recorded in msg.
func readTrailers(o *Origin, msg string) {
	if m := intentRe.FindStringSubmatch(msg); m != nil {
		o.Intent = m[1]
	}
	if m := kindRe.FindStringSubmatch(msg); m != nil {
		o.Kind = m[1]
	}
	if m := requesterRe.FindStringSubmatch(msg); m != nil {
		o.Requester = m[1]
	}
	if m := ticketRe.FindStringSubmatch(msg); m != nil {
		o.Ticket = m[1]
	} else if m := titleKeyRe.FindStringSubmatch(msg); m != nil && o.Intent != "" {
		o.Ticket = m[1]
	}
	if m := sourceRe.FindStringSubmatch(msg); m != nil {
		o.Source = m[1]
	}
	for _, m := range gateRe.FindAllStringSubmatch(msg, maxGates) {
		o.Gates = append(o.Gates, Gate{Name: m[1], State: m[2]})
	}
}

// promobotBranch reports whether branch is one promobot opens pull
// requests from (a target's branch, or one of its parts).
func (w *walker) promobotBranch(branch string) bool {
	if branch == "" {
		return false
	}
	if w.branches[branch] {
		return true
	}
	if i := strings.LastIndexByte(branch, '/'); i > 0 {
		return w.branches[branch[:i]]
	}
	return false
}
