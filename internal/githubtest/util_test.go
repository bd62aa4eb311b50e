package githubtest

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
)

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func asErr(err error, target any) bool { return errors.As(err, target) }

func newBlockingServer(t interface {
	Cleanup(func())
	Fatal(...any)
}, srv *http.Server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
