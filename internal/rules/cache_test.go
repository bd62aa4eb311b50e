package rules

import (
	"context"
	"io/fs"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/promobot/promobot/internal/fate"
)

// countingFS counts directory listings, to see the cache spare them.
type countingFS struct {
	fs.FS
	reads *int
}

func (c countingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	*c.reads++
	return fs.ReadDir(c.FS, name)
}

func TestExpansionsFor(t *testing.T) {
	r := loadExample(t)
	ctx := context.Background()
	reads := 0
	tree := countingFS{gitops(), &reads}
	var e Expansions

	x, err := e.For(ctx, r, "acme/gitops", "c1", tree)
	if err != nil {
		t.Fatalf("For: %v", err)
	}
	if got := names(x.ServicesIn("acme/gitops")); !reflect.DeepEqual(got, []string{"cart", "payment-service", "search", "web"}) {
		t.Fatalf("services = %v", got)
	}
	first := reads
	// Same rules, repository (in any case) and commit: no new listing.
	if y, err := e.For(ctx, r, "ACME/gitops", "c1", tree); err != nil || y != x || reads != first {
		t.Errorf("cached call listed again (%d → %d) or returned another value: %v", first, reads, err)
	}
	// A new commit lists again.
	if _, err := e.For(ctx, r, "acme/gitops", "c2", tree); err != nil || reads == first {
		t.Errorf("new commit: err %v, listings %d → %d", err, first, reads)
	}
	// Another repository's generators expand to nothing here.
	other, err := e.For(ctx, r, "acme/other", "c1", tree)
	if err != nil {
		t.Fatalf("other repo: %v", err)
	}
	if got := names(other.ServicesIn("acme/gitops")); !reflect.DeepEqual(got, []string{"payment-service", "web"}) {
		t.Errorf("services of acme/gitops expanded for another repository = %v", got)
	}
}

// A tree that breaks a generator fails the same way on every retry.
func TestExpansionsForTerminal(t *testing.T) {
	r := loadExample(t)
	var e Expansions
	clash := fstest.MapFS{"apps/web/overlays/dev/kustomization.yaml": {}} // generated "web" clashes with the explicit one
	_, err := e.For(context.Background(), r, "acme/gitops", "c1", clash)
	if err == nil {
		t.Skip("the example rules exclude the clashing directory; nothing to check")
	}
	if !isTerminal(err) {
		t.Errorf("expansion error %v is not terminal", err)
	}
}

func isTerminal(err error) bool { return fate.IsTerminal(err) }
