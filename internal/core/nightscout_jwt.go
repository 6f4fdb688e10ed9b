package core

import (
	"context"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// JWTs of the Nightscout API. Nightscout hands a client that shows an
// access token a JWT (in status.json's "authorized" block and from
// /api/v2/authorization/request/{token}), which the client then sends as
// `Authorization: Bearer …`, for instance to API v3. glucoshare's JWTs
// name the token by its id only (never the token itself, unlike
// Nightscout's), are signed with HS256 under a key derived from
// --secret-key, and live 8 hours as Nightscout's do. Every request with
// one looks the token up again, so a revoked token's JWTs stop working at
// once.

// NightscoutJWTLifetime is how long a JWT is valid, as in Nightscout.
const NightscoutJWTLifetime = 8 * time.Hour

// jwtIssuer marks glucoshare's Nightscout JWTs.
const jwtIssuer = "glucoshare-nightscout"

// NightscoutJWT is an issued JWT and its times (Unix seconds).
type NightscoutJWT struct {
	Token             string
	IssuedAt, Expires int64
}

// IssueNightscoutJWT issues a JWT for the token behind acc; only an
// access granted by a token (or by one of its JWTs) gets one.
func (s *Service) IssueNightscoutJWT(acc *NightscoutAccess, now time.Time) (NightscoutJWT, error) {
	if acc == nil || acc.TokenID == "" {
		return NightscoutJWT{}, ErrNightscoutDenied
	}
	iat := now.Truncate(time.Second)
	exp := iat.Add(NightscoutJWTLifetime)
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Issuer:    jwtIssuer,
		Subject:   acc.TokenID,
		IssuedAt:  jwt.NewNumericDate(iat),
		ExpiresAt: jwt.NewNumericDate(exp),
	}).SignedString(s.jwtKey)
	if err != nil {
		return NightscoutJWT{}, err
	}
	return NightscoutJWT{Token: signed, IssuedAt: iat.Unix(), Expires: exp.Unix()}, nil
}

// NightscoutJWTAccess checks a JWT and grants what its token grants now.
func (s *Service) NightscoutJWTAccess(ctx context.Context, token string, now time.Time) (*NightscoutAccess, error) {
	if len(token) > maxCredentialLength {
		return nil, ErrNightscoutDenied
	}
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return s.jwtKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(jwtIssuer), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil || claims.Subject == "" {
		return nil, ErrNightscoutDenied
	}
	var acc *NightscoutAccess
	err = s.store.View(ctx, func(tx glucose.Tx) error {
		t, err := tx.NightscoutTokenByID(claims.Subject)
		if err != nil {
			return err
		}
		acc, err = tokenAccess(tx, t, now)
		return err
	})
	if errors.Is(err, glucose.ErrNotFound) {
		return nil, ErrNightscoutDenied
	}
	if err != nil {
		return nil, err
	}
	acc.Via = ViaJWT
	return acc, nil
}

// LooksLikeJWT reports whether a bearer credential has a JWT's form
// (three base64url parts), so that it is checked as one.
func LooksLikeJWT(s string) bool {
	dots := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			dots++
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '=':
		default:
			return false
		}
	}
	return dots == 2
}
