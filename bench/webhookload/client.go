package main

// The two HTTP clients of the generator. "nethttp" is net/http's client,
// as GitHub-like senders use; "lean" writes a pre-rendered HTTP/1.1 request
// (only the delivery id changes) on its own keep-alive connection and reads
// the status line, the headers and a Content-Length body. The lean client
// costs the shared CPUs far less per request, so more of them is left to
// the ingest being measured (GitHub's senders do not run on promobot's
// machine); it understands only what promobot answers (no chunked bodies).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// sender sends one delivery and returns the response status.
type sender interface {
	send(ctx context.Context, id string) (int, error)
	close()
}

type netHTTPSender struct {
	client *http.Client
	target string
	body   []byte
	sig    string
}

func (s *netHTTPSender) send(ctx context.Context, id string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target, bytes.NewReader(s.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", s.sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	return resp.StatusCode, err
}

func (s *netHTTPSender) close() {}

// leanSender is one keep-alive connection.
type leanSender struct {
	addr       string
	head, tail []byte // the request before and after the delivery id
	buf        []byte
	conn       net.Conn
	r          *bufio.Reader
}

func newLeanSender(target string, body []byte, sig string) (*leanSender, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("-client lean needs an http:// URL, not %q", target)
	}
	path := u.RequestURI()
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	// The headers net/http's client sends for the same request.
	head := "POST " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: Go-http-client/1.1\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\nContent-Type: application/json\r\n" +
		"X-Github-Event: push\r\nX-Hub-Signature-256: " + sig + "\r\nX-Github-Delivery: "
	tail := append([]byte("\r\n\r\n"), body...)
	return &leanSender{addr: host, head: []byte(head), tail: tail}, nil
}

func (s *leanSender) send(ctx context.Context, id string) (int, error) {
	if s.conn == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", s.addr)
		if err != nil {
			return 0, err
		}
		s.conn, s.r = c, bufio.NewReaderSize(c, 4096)
	}
	status, keep, err := s.roundTrip(id)
	if err != nil || !keep {
		s.close()
	}
	return status, err
}

func (s *leanSender) roundTrip(id string) (status int, keep bool, err error) {
	if err := s.conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return 0, false, err
	}
	s.buf = append(append(append(s.buf[:0], s.head...), id...), s.tail...)
	if _, err := s.conn.Write(s.buf); err != nil {
		return 0, false, err
	}
	line, err := s.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 202 Accepted\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	n, keep := -1, true
	for {
		line, err := s.r.ReadSlice('\n')
		if err != nil {
			return status, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return status, false, fmt.Errorf("bad header line %q", line)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if n, err = strconv.Atoi(string(v)); err != nil || n < 0 {
				return status, false, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			return status, false, errors.New("chunked response: use -client nethttp")
		case bytes.EqualFold(k, []byte("Connection")) && bytes.EqualFold(v, []byte("close")):
			keep = false
		}
	}
	if n < 0 {
		return status, false, errors.New("response without Content-Length")
	}
	if _, err := s.r.Discard(n); err != nil {
		return status, false, err
	}
	return status, keep, nil
}

func (s *leanSender) close() {
	if s.conn != nil {
		_ = s.conn.Close() // nothing to do about a failed close of a bench connection
		s.conn, s.r = nil, nil
	}
}
