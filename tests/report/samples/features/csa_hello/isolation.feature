@isolation
Feature: Network isolation
  Only the documented flows are allowed.

  @offline @modeled @blocker
  Scenario: auth-service is reachable only from ingress-system and frontend-system
    Source: Kubernetes Architecture for CSA Hello § Network Policies (Following Lark Suite's Security Model)
    Given the reachability matrix to auth-service
    Then only ingress-system and frontend-system reach it

  @offline @modeled
  Scenario: messenger pods cannot reach the database directly
    Source: Kubernetes Architecture for CSA Hello § Network Policies (Following Lark Suite's Security Model)
    Given the reachability matrix to auth-service
    Then the database is not reachable from messenger-system

  @offline @observed
  Scenario: the CNI enforces the modeled matrix
    Source: Kubernetes Architecture for CSA Hello § Network Policies (Following Lark Suite's Security Model)
    Given the reachability matrix to auth-service
    Then the cluster enforces NetworkPolicy
