package auth

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// providerTTL is how long a discovered provider is reused before discovery is
// fetched again. Key rotation does not need a refetch: go-oidc's key set
// reloads the JWKS when it meets an unknown key id.
const providerTTL = time.Hour

type cachedProvider struct {
	p       *oidc.Provider
	fetched time.Time
}

// providerCache holds one go-oidc Provider per issuer. Failed discoveries are
// not cached.
type providerCache struct {
	client *http.Client
	now    func() time.Time

	mu sync.Mutex
	// guarded by mu
	m map[string]cachedProvider
}

func newProviderCache(client *http.Client, now func() time.Time) *providerCache {
	return &providerCache{client: client, now: now, m: make(map[string]cachedProvider)}
}

func (c *providerCache) get(ctx context.Context, issuer string) (*oidc.Provider, error) {
	now := c.now()
	c.mu.Lock()
	cp, ok := c.m[issuer]
	c.mu.Unlock()
	if ok && now.Sub(cp.fetched) < providerTTL {
		return cp.p, nil
	}
	// Fetched without the lock: a slow IdP must not stall logins to others.
	// Concurrent misses for one issuer may both fetch; the last one wins.
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, c.client), issuer)
	if err != nil {
		return nil, fmt.Errorf("discovering OIDC provider %s: %w", issuer, err)
	}
	c.mu.Lock()
	c.m[issuer] = cachedProvider{p: p, fetched: now}
	c.mu.Unlock()
	return p, nil
}
