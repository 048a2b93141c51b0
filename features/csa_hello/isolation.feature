@isolation
Feature: CSA Hello isolation of the authentication service
  The auth service takes connections on TCP 8080 only from the ingress and frontend namespaces,
  and talks only to the storage and messaging namespaces.

  Background:
    Given the system "csa_hello"

  @offline @declared @normal
  Scenario: The auth NetworkPolicy selects the auth-service pods and restricts both directions
    Source: Kubernetes Architecture for CSA Hello § Network Policies (Following Lark Suite's Security Model)
    Then the NetworkPolicy "auth-system/auth-network-policy" selects the pods of the Deployment "auth-system/auth-service"
    And the NetworkPolicy "auth-system/auth-network-policy" declares spec.policyTypes = [Ingress, Egress]

  @offline @modeled @critical
  Scenario: auth-service accepts TCP 8080 only from the ingress and frontend namespaces
    Source: Kubernetes Architecture for CSA Hello § Network Policies (Following Lark Suite's Security Model)
    Then "auth-system/auth-service" accepts TCP 8080 only from:
      | source          |
      | ingress-system  |
      | frontend-system |

  @offline @modeled @critical
  Scenario: auth-service can reach the shared PostgreSQL in the storage namespace
    Source: Kubernetes Architecture for CSA Hello § Network Policies (Following Lark Suite's Security Model)
    Then "auth-system/auth-service" can reach "storage-system/postgres" on TCP 5432

  @offline @modeled @normal
  Scenario: auth-service cannot open connections to application namespaces
    Source: Kubernetes Architecture for CSA Hello § Network Policies (Following Lark Suite's Security Model)
    Then "auth-system/auth-service" cannot reach "messenger-system/messenger-service" on TCP 8080

  @offline @modeled @critical @known_gap @gap:csa-auth-egress-blocks-dns
  Scenario: auth-service can resolve the names of the services it talks to
    Source: Kubernetes Architecture for CSA Hello § Network Policies (Following Lark Suite's Security Model)
    Then "auth-system/auth-service" can resolve cluster DNS

  @live @observed @critical
  Scenario: The cluster enforces the modeled reachability of the auth service
    Source: Kubernetes Architecture for CSA Hello § Network Policies (Following Lark Suite's Security Model)
    Given the system is deployed
    When every workload probes "auth-system/auth-service" on TCP 8080
    Then the observed reachability equals the modeled reachability

  @live @observed @critical @known_gap @gap:csa-auth-egress-blocks-dns
  Scenario: auth-service resolves cluster DNS on a live cluster
    Source: Kubernetes Architecture for CSA Hello § Network Policies (Following Lark Suite's Security Model)
    Given the system is deployed
    Then "auth-system/auth-service" resolves the Service "storage-system/postgres" within 1s
