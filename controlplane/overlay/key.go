package overlay

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/warrenhq/warren/internal/atomicfile"
	"github.com/warrenhq/warren/netstack"
)

// KeyFile is the name of the engine's WireGuard private key in the data dir.
const KeyFile = "engine.key"

// LoadOrCreateKey reads the engine's private key from dir, creating it (mode
// 0600, written atomically) on first start. The key must survive restarts:
// agents are configured with its public half.
func LoadOrCreateKey(dir string) (netstack.Key, error) {
	path := filepath.Join(dir, KeyFile)
	data, err := os.ReadFile(path)
	if err == nil {
		k, err := netstack.ParseKey(strings.TrimSpace(string(data)))
		if err != nil {
			return netstack.Key{}, fmt.Errorf("reading %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return netstack.Key{}, fmt.Errorf("reading engine key: %w", err)
	}
	k, err := netstack.GenerateKey()
	if err != nil {
		return netstack.Key{}, err
	}
	if err := atomicfile.Write(path, []byte(k.String()+"\n")); err != nil {
		return netstack.Key{}, fmt.Errorf("writing engine key: %w", err)
	}
	return k, nil
}

// EngineReserved is how many addresses at the start of the overlay prefix are
// kept for engine replicas; devices are never given one of them.
const EngineReserved = 16

// EngineAddr returns the overlay address of engine replica n (0-based): the
// prefix's network address + 1 + n.
func EngineAddr(prefix netip.Prefix, n int) netip.Addr {
	a := prefix.Masked().Addr().Next()
	for i := 0; i < n; i++ {
		a = a.Next()
	}
	return a
}

// Reserved lists the addresses IPAM must never hand to a device: the network
// address and the engine block.
func Reserved(prefix netip.Prefix) []netip.Addr {
	out := []netip.Addr{prefix.Masked().Addr()}
	for i := 0; i < EngineReserved-1; i++ {
		out = append(out, EngineAddr(prefix, i))
	}
	return out
}
