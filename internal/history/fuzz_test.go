package history

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// FuzzTrailers reads commit messages as promobot's trailers: whatever a
// message holds, every value read is one line, bounded, and gates are
// capped.
func FuzzTrailers(f *testing.F) {
	f.Add("Promote web v2 to prod [PAY-7]\n\nTicket: PAY-7\nPromobot-Intent: c3:0\nPromobot-Kind: promote\nPromobot-Requester: carol\nPromobot-Gate: change ticket (open)\n")
	f.Add("Merge pull request #6 from acme/promobot/prod/web\n\nPromote web v2 to prod [PAY-7]")
	f.Add("Promobot-Gate: (open)\nPromobot-Gate: a (b) (open)\nTicket: PAY-\r\nPromobot-Requester: @-x\n")
	f.Add(strings.Repeat("Promobot-Gate: g (open)\n", 100))
	f.Fuzz(func(t *testing.T, msg string) {
		var o Origin
		readTrailers(&o, msg)
		for _, v := range []string{o.Intent, o.Kind, o.Requester, o.Ticket, o.Source} {
			if strings.ContainsAny(v, "\r\n") || len(v) > 300 {
				t.Fatalf("value %q", v)
			}
		}
		if len(o.Gates) > maxGates {
			t.Fatalf("%d gates", len(o.Gates))
		}
		for _, g := range o.Gates {
			if g.State != "open" && g.State != "waiting" && g.State != "closed" {
				t.Fatalf("gate state %q", g.State)
			}
		}
	})
}

// FuzzTreeIter reads arbitrary bytes as a tree object: it never reads past
// the data, and a tree go-git writes reads back entry for entry.
func FuzzTreeIter(f *testing.F) {
	st := memory.NewStorage()
	tr := &object.Tree{Entries: []object.TreeEntry{
		{Name: "apps", Mode: filemode.Dir, Hash: plumbing.NewHash(strings.Repeat("1", 40))},
		{Name: "kustomization.yaml", Mode: filemode.Regular, Hash: plumbing.NewHash(strings.Repeat("2", 40))},
	}}
	eo := st.NewEncodedObject()
	if err := tr.Encode(eo); err != nil {
		f.Fatal(err)
	}
	r, _ := eo.Reader()
	var b strings.Builder
	buf := make([]byte, eo.Size())
	_, _ = r.Read(buf)
	b.Write(buf)
	f.Add([]byte(b.String()))
	f.Add([]byte("100644 \x00"))
	f.Add([]byte("9 x\x00" + strings.Repeat("a", 20)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		it := treeIter{data: data}
		n := 0
		for it.next() {
			n++
			if len(it.e.name) == 0 || strings.ContainsRune(string(it.e.name), 0) {
				t.Fatalf("entry name %q", it.e.name)
			}
		}
		if !it.bad && len(it.data) != 0 {
			t.Fatal("stopped early without an error")
		}
	})
}
