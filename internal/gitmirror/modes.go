package gitmirror

import (
	"errors"
	"io/fs"

	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/promobot/promobot/internal/fate"
)

// ErrSymlink means a path names a symbolic link. promobot reads and edits
// regular files only: it never follows a link, which could lead anywhere,
// outside the repository included.
var ErrSymlink = errors.New("is a symbolic link: promobot edits only regular files and never follows a link, " +
	"which could lead outside the repository; name the file the link points to instead")

// errSubmodule means a path names a submodule (a commit of another
// repository), which has no content here.
var errSubmodule = errors.New("is a submodule, not a file")

// notRegular is the terminal refusal of a tree entry that is not a regular
// file or a directory.
func notRegular(p string, m filemode.FileMode) error {
	switch m {
	case filemode.Symlink:
		return fate.MarkTerminal(&fs.PathError{Op: "read", Path: p, Err: ErrSymlink})
	case filemode.Submodule:
		return fate.MarkTerminal(&fs.PathError{Op: "read", Path: p, Err: errSubmodule})
	}
	return fate.MarkTerminal(&fs.PathError{Op: "read", Path: p, Err: errNotRegular})
}

// FileMode returns the git mode of the regular file at p as the Git Data
// API writes it: "100755" for an executable, "100644" otherwise. Paths are
// checked and non-regular files refused as ReadFile does. It lets a
// promotion keep a file's mode (planner.ModeView).
func (s *Snapshot) FileMode(p string) (string, error) {
	c, err := cleanPath(p)
	if err != nil {
		return "", err
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	e, err := s.entryLocked(c)
	if err != nil {
		return "", &fs.PathError{Op: "stat", Path: c, Err: err}
	}
	switch e.Mode {
	case filemode.Executable:
		return "100755", nil
	case filemode.Regular, filemode.Deprecated:
		return "100644", nil
	case filemode.Dir:
		return "", fate.MarkTerminal(&fs.PathError{Op: "read", Path: c, Err: errIsDir})
	}
	return "", notRegular(c, e.Mode)
}
