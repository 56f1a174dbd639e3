package controlplanetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestStartSSHD logs in to the helper's sshd with the key and, where
// available, the password, and runs a command.
func TestStartSSHD(t *testing.T) {
	s := StartSSHD(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := s.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Output("echo hello-$((40+2))")
	if err != nil || strings.TrimSpace(string(out)) != "hello-42" {
		t.Fatalf("key login: %q, %v", out, err)
	}
	if s.Password == "" {
		t.Log("no password login here")
		return
	}
	pc, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.Password(s.Password)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey),
	})
	if err != nil {
		t.Fatalf("password login: %v", err)
	}
	pc.Close()
	if _, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.Password("wrong")},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey),
	}); err == nil {
		t.Fatal("wrong password accepted")
	}
}
