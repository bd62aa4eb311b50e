package history

import (
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

func TestOrigin(t *testing.T) {
	st := memory.NewStorage()
	put := func(msg string, parents ...plumbing.Hash) plumbing.Hash {
		t.Helper()
		c := &object.Commit{Message: msg, TreeHash: plumbing.ZeroHash, ParentHashes: parents}
		eo := st.NewEncodedObject()
		if err := c.Encode(eo); err != nil {
			t.Fatal(err)
		}
		h, err := st.SetEncodedObject(eo)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	base := put("start")
	tip := put("Promote web v2 to prod [PAY-7]\n\nTicket: PAY-7\nPromobot-Intent: c3:0\nPromobot-Kind: promote\nPromobot-Requester: carol\nPromobot-Gate: change ticket (open)\n", base)
	plainTip := put("bump web by hand", base)
	w := &walker{st: st, branches: map[string]bool{"promobot/prod/web": true}}
	tests := []struct {
		name string
		c    plumbing.Hash
		want Origin
	}{
		{"merge of a promobot PR", put("Merge pull request #6 from acme/promobot/prod/web\n\nPromote web v2 to prod [PAY-7]", base, tip),
			Origin{Via: ViaPR, PR: 6, Branch: "promobot/prod/web", Intent: "c3:0", Kind: "promote", Requester: "carol", Ticket: "PAY-7", Gates: []Gate{{"change ticket", "open"}}}},
		{"merge of a split part's branch, trailers lost", put("Merge pull request #8 from acme/promobot/prod/web/prod-eu", base, plainTip),
			Origin{Via: ViaPR, PR: 8, Branch: "promobot/prod/web/prod-eu"}},
		{"a person's PR", put("Merge pull request #9 from alice/fix-prod\n\nfix prod", base, plainTip),
			Origin{Via: ViaHand, PR: 9, Branch: "fix-prod"}},
		{"squash merge", put("Promote web v2 to prod [PAY-7] (#12)\n\n* Promote web v2 to prod [PAY-7]\n\nPromobot-Intent: c5:0\n", base),
			Origin{Via: ViaPR, PR: 12, Intent: "c5:0", Ticket: "PAY-7"}},
		{"squash of a person's PR", put("fix prod (#13)", base), Origin{Via: ViaHand, PR: 13}},
		{"promobot commit without a PR", put("Promote web v2 to dev\n\nPromobot-Intent: d1:0\n", base), Origin{Via: ViaDirect, Intent: "d1:0"}},
		{"merge line on a one-parent commit", put("Merge pull request #14 from acme/promobot/prod/web", base), Origin{Via: ViaHand}},
		{"hand commit", put("hotfix", base), Origin{Via: ViaHand}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := object.GetCommit(st, tc.c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := w.origin(c)
			if err != nil {
				t.Fatal(err)
			}
			if got.Via != tc.want.Via || got.PR != tc.want.PR || got.Branch != tc.want.Branch || got.Intent != tc.want.Intent ||
				got.Kind != tc.want.Kind || got.Requester != tc.want.Requester || got.Ticket != tc.want.Ticket || len(got.Gates) != len(tc.want.Gates) {
				t.Errorf("origin = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
