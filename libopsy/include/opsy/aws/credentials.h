// File: credentials.h
//
// AWS credentials and where they come from. Each source is a CredentialsProvider; the default
// chain tries, in order: environment variables, web identity (IRSA), the shared credentials and
// config files (AWS_PROFILE), container credentials (EKS Pod Identity, ECS), and IMDSv2. A
// provider that is not configured answers NotFound and the chain moves on; a provider that is
// configured but fails stops the chain (falling through to IMDS would silently switch to the
// node's identity). The caching wrapper refreshes temporary credentials 5 minutes before expiry.
// Every secret key and session token obtained is registered with the log scrubber.
//
//   auto creds = aws::makeDefaultCredentialsChain(aws::processEnv(), transport, clock);
//   OPSY_ASSIGN_OR_RETURN(aws::Credentials c, creds->credentials());
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "opsy/aws/environment.h"
#include "opsy/core/clock.h"
#include "opsy/core/result.h"
#include "opsy/http/transport.h"

namespace opsy::aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  // Set for temporary credentials (STS, IRSA, Pod Identity, IMDS).
  std::string session_token;
  // Unset for long-lived keys.
  std::optional<TimePoint> expiration;
};

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;

  /**
   * Returns current credentials, fetching them if this provider has to.
   * @return NotFound when this source is not configured at all; another error when it is
   *         configured but failed.
   */
  [[nodiscard]] virtual Result<Credentials> credentials() = 0;

  /** A short name for messages ("environment", "web-identity", "imds"). */
  virtual std::string name() const = 0;

  /**
   * AWS refused the credentials last returned as expired or unknown (ExpiredToken and alike):
   * a cache drops them, so the next credentials() fetches new ones instead of serving revoked
   * ones until their stated expiry.
   */
  virtual void invalidate() {}
};

using CredentialsProviderPtr = std::shared_ptr<CredentialsProvider>;

// Long-lived or fixed credentials (tests, flags).
CredentialsProviderPtr makeStaticProvider(Credentials credentials);

// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN.
CredentialsProviderPtr makeEnvironmentProvider(EnvLookup env);

// The shared files: AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials, section [name]) and
// AWS_CONFIG_FILE (default ~/.aws/config, section [profile name] or [default]) for the profile
// AWS_PROFILE (default "default"); the credentials file wins when both have the profile.
CredentialsProviderPtr makeProfileProvider(EnvLookup env);

struct WebIdentityOptions {
  // STS endpoint; empty = resolved from AWS_REGION / AWS_DEFAULT_REGION and AWS_ENDPOINT_URL*.
  std::string sts_endpoint;
  int duration_seconds = 3600;
};

// IRSA: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (+ AWS_ROLE_SESSION_NAME) exchanged with an
// unsigned STS AssumeRoleWithWebIdentity. The token file is read again on every call, because
// the kubelet rotates it.
CredentialsProviderPtr makeWebIdentityProvider(EnvLookup env, http::TransportPtr transport,
                                               ClockPtr clock, WebIdentityOptions options = {});

// Container credentials (EKS Pod Identity, ECS): AWS_CONTAINER_CREDENTIALS_FULL_URI (loopback,
// 169.254.170.2, 169.254.170.23 or fd00:ec2::23 only) or _RELATIVE_URI, with the Authorization
// value from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (re-read each call) or _TOKEN.
CredentialsProviderPtr makeContainerProvider(EnvLookup env, http::TransportPtr transport);

// EC2 instance metadata, IMDSv2 only (session token first); AWS_EC2_METADATA_DISABLED=true turns
// it off; AWS_EC2_METADATA_SERVICE_ENDPOINT overrides http://169.254.169.254.
CredentialsProviderPtr makeImdsProvider(EnvLookup env, http::TransportPtr transport);

// Tries `providers` in order (see the file comment for when it moves on). The final error names
// every provider tried and why it failed.
CredentialsProviderPtr makeChainProvider(std::vector<CredentialsProviderPtr> providers);

// Caches `inner`'s credentials; thread-safe. Refreshes when none are cached or the cached ones
// expire within `refresh_before` of clock.now(); if a refresh fails while the cached credentials
// are still valid, keeps using them. invalidate() drops the cached credentials.
CredentialsProviderPtr makeCachingProvider(CredentialsProviderPtr inner, ClockPtr clock,
                                           Duration refresh_before = std::chrono::minutes(5));

// environment -> web identity -> profile -> container -> IMDS, cached.
CredentialsProviderPtr makeDefaultCredentialsChain(EnvLookup env, http::TransportPtr transport,
                                                   ClockPtr clock);

}  // namespace opsy::aws
