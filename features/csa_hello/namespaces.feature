@namespaces
Feature: CSA Hello namespace layout
  Six platform namespaces and one namespace per application module (twelve) organise the suite.

  Background:
    Given the system "csa_hello"

  @offline @declared @normal
  Scenario: The six platform service namespaces exist
    Source: Kubernetes Architecture for CSA Hello § Namespace Structure (Based on Lark Suite's Modular Design) › Platform Service Namespaces
    Then the system has the namespaces:
      | namespace         |
      | ingress-system    |
      | monitoring-system |
      | logging-system    |
      | security-system   |
      | storage-system    |
      | messaging-system  |

  @offline @declared @normal
  Scenario: Each of the twelve application modules has its own namespace
    Source: Kubernetes Architecture for CSA Hello § Namespace Structure (Based on Lark Suite's Modular Design) › Application Namespaces
    Then the system has the namespaces:
      | namespace        |
      | frontend-system  |
      | auth-system      |
      | messenger-system |
      | calendar-system  |
      | docs-system      |
      | drive-system     |
      | email-system     |
      | tasks-system     |
      | approval-system  |
      | video-system     |
      | admin-system     |
      | platform-system  |
