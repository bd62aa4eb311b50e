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

// The values promobot's trailers may hold, and the lines GitHub writes
// when it merges a pull request.
var (
	intentRe    = regexp.MustCompile(`^\S{1,200}$`)
	kindRe      = regexp.MustCompile(`^[a-z]{1,20}$`)
	requesterRe = regexp.MustCompile(`^@?([A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?)$`)
	gateRe      = regexp.MustCompile(`^([^()]{1,100}) \((open|waiting|closed)\)$`)
	ticketRe    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*-[0-9]+$`)
	titleKeyRe  = regexp.MustCompile(`^Promote .* \[([A-Za-z][A-Za-z0-9_]*-[0-9]+)\](?: \(#[0-9]+\))?$`)
	sourceRe    = regexp.MustCompile(`^\S{1,300}$`)
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

// readTrailers fills what promobot recorded in msg, line by line: the
// first of each trailer counts (a merge reads the branch tip first).
func readTrailers(o *Origin, msg string) {
	var titleKey string
	for line := range strings.Lines(msg) {
		line = strings.TrimRight(line, "\r\n")
		key, val, ok := strings.Cut(line, ": ")
		if !ok {
			if titleKey == "" && strings.HasPrefix(line, "Promote ") {
				if m := titleKeyRe.FindStringSubmatch(line); m != nil {
					titleKey = m[1]
				}
			}
			continue
		}
		switch key {
		case "Promobot-Intent":
			if o.Intent == "" && intentRe.MatchString(val) {
				o.Intent = val
			}
		case "Promobot-Kind":
			if o.Kind == "" && kindRe.MatchString(val) {
				o.Kind = val
			}
		case "Promobot-Requester":
			if m := requesterRe.FindStringSubmatch(val); o.Requester == "" && m != nil {
				o.Requester = m[1]
			}
		case "Promobot-Gate":
			if m := gateRe.FindStringSubmatch(val); m != nil && len(o.Gates) < maxGates {
				o.Gates = append(o.Gates, Gate{Name: m[1], State: m[2]})
			}
		case "Ticket":
			if o.Ticket == "" && ticketRe.MatchString(val) {
				o.Ticket = val
			}
		case "Source":
			if o.Source == "" && sourceRe.MatchString(val) {
				o.Source = val
			}
		}
	}
	if o.Ticket == "" && o.Intent != "" {
		o.Ticket = titleKey
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
