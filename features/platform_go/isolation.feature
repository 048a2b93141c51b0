@isolation
Feature: platform-go network isolation
  Tenant namespaces refuse inbound traffic unless a rule admits it and let DNS lookups out; applications get explicit
  allow rules.

  Background:
    Given the system "platform_go"

  @offline @declared @critical
  Scenario Outline: The <namespace> namespace denies all ingress by default
    Source: Kubernetes Architecture Analysis (platform-go) § Security › Network Policies
    Then the namespace "<namespace>" denies all ingress traffic by default

    Examples:
      | namespace         |
      | user-john-storage |
      | group-42-storage  |

  @offline @modeled @critical
  Scenario: Only the platform reaches the user's file browser
    Source: Kubernetes Architecture Analysis (platform-go) § Security › Network Policies
    Then "user-john-storage/filebrowser" accepts TCP 8080 only from:
      | source      |
      | platform-go |

  @offline @modeled @critical
  Scenario: Tenant pods can resolve cluster DNS
    Source: Kubernetes Architecture Analysis (platform-go) § Security › Network Policies
    Then "user-john-storage/filebrowser" can resolve cluster DNS

  @live @observed @critical
  Scenario: The cluster enforces the modeled reachability into the user's namespace
    Source: Kubernetes Architecture Analysis (platform-go) § Security › Network Policies
    Given the system is deployed
    When every workload probes "user-john-storage/filebrowser" on TCP 8080
    Then the observed reachability equals the modeled reachability

  @live @observed @normal
  Scenario: Tenant pods resolve service names on a live cluster
    Source: Kubernetes Architecture Analysis (platform-go) § Security › Network Policies
    Given the system is deployed
    Then "user-john-storage/filebrowser" resolves the Service "user-john-storage/filebrowser" within 1s
