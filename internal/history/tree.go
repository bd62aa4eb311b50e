package history

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// rawEntry is one tree entry as git stores it; name points into the tree's
// bytes. Reading trees this way, without go-git's decoder, is what keeps a
// walk over tens of thousands of commits fast: no entry allocates.
type rawEntry struct {
	name []byte
	mode filemode.FileMode
	hash plumbing.Hash
}

// maxTreeSize bounds one tree object: a directory of 100,000 entries.
const maxTreeSize = 8 << 20

// tree returns tree h's bytes (nil for the zero hash), checked, once while
// it stays cached. Objects the store holds in memory are not copied.
func (w *walker) tree(h plumbing.Hash) ([]byte, error) {
	if h.IsZero() {
		return nil, nil
	}
	if t, ok := w.trees[h]; ok {
		return t, nil
	}
	o, err := w.st.EncodedObject(plumbing.TreeObject, h)
	if err != nil {
		return nil, fmt.Errorf("history: read tree %s: %w", h, err)
	}
	if o.Size() > maxTreeSize {
		return nil, fmt.Errorf("history: tree %s is %d bytes, over %d", h, o.Size(), maxTreeSize)
	}
	var data []byte
	if m, ok := o.(interface{ Bytes() []byte }); ok && int64(len(m.Bytes())) == o.Size() {
		data = m.Bytes()
	} else {
		r, err := o.Reader()
		if err != nil {
			return nil, fmt.Errorf("history: read tree %s: %w", h, err)
		}
		data = make([]byte, o.Size())
		_, err = io.ReadFull(r, data)
		_ = r.Close() // a read-only reader: its close error says nothing more
		if err != nil {
			return nil, fmt.Errorf("history: read tree %s: %w", h, err)
		}
	}
	if it := (treeIter{data: data}); !it.valid() {
		return nil, fmt.Errorf("history: tree %s: malformed entry", h)
	}
	if len(w.trees) >= 1<<14 {
		clear(w.trees) // consecutive commits share most trees; an old one is rarely asked again
	}
	w.trees[h] = data
	return data, nil
}

// treeIter reads a tree object's entries in place:
// "<octal mode> <name>\0<20-byte hash>" each.
type treeIter struct {
	data []byte
	e    rawEntry
	bad  bool
}

// next moves to the next entry; false at the end or at a malformed entry.
func (it *treeIter) next() bool {
	data := it.data
	if len(data) == 0 || it.bad {
		return false
	}
	sp := bytes.IndexByte(data, ' ')
	if sp <= 0 || sp > 7 {
		it.bad = true
		return false
	}
	var mode uint32
	for _, c := range data[:sp] {
		if c < '0' || c > '7' {
			it.bad = true
			return false
		}
		mode = mode<<3 | uint32(c-'0')
	}
	data = data[sp+1:]
	nul := bytes.IndexByte(data, 0)
	if nul <= 0 || len(data) < nul+21 {
		it.bad = true
		return false
	}
	it.e.name, it.e.mode = data[:nul], filemode.FileMode(mode)
	copy(it.e.hash[:], data[nul+1:nul+21])
	it.data = data[nul+21:]
	return true
}

// valid reads every entry and reports whether the tree is well formed.
func (it *treeIter) valid() bool {
	for it.next() {
	}
	return !it.bad
}

// gitCmp orders entries as git sorts a tree: by name, a directory's name
// compared as if it ended in "/".
func gitCmp(a, b *rawEntry) int {
	n := min(len(a.name), len(b.name))
	if c := bytes.Compare(a.name[:n], b.name[:n]); c != 0 {
		return c
	}
	return next(a, n) - next(b, n)
}

func next(e *rawEntry, i int) int {
	switch {
	case i < len(e.name):
		return int(e.name[i])
	case e.mode == filemode.Dir:
		return '/'
	}
	return -1
}

func isFile(e *rawEntry) bool {
	return e != nil && e.mode.IsFile() && e.mode != filemode.Symlink
}

// fileAt is the blob at path under tree root, when it is a regular file.
func (w *walker) fileAt(root plumbing.Hash, path string) plumbing.Hash {
	h := root
	for path != "" {
		name, rest, more := strings.Cut(path, "/")
		t, err := w.tree(h)
		if err != nil {
			return plumbing.ZeroHash
		}
		var found *rawEntry
		for it := (treeIter{data: t}); it.next(); {
			if string(it.e.name) == name {
				e := it.e
				found = &e
				break
			}
		}
		switch {
		case found == nil:
			return plumbing.ZeroHash
		case !more:
			return fileOf(found)
		}
		h, path = dirOf(found), rest
		if h.IsZero() {
			return plumbing.ZeroHash
		}
	}
	return plumbing.ZeroHash
}
