@ingress
Feature: TByte ingress
  External traffic reaches the frontend through the nginx ingress controller at tbyte.local.

  Background:
    Given the system "tbyte"

  @offline @declared @normal
  Scenario: The Ingress sends tbyte.local to the frontend Service
    Source: Kubernetes Architecture - TByte Microservices Platform § Application Architecture
    Then the Ingress "tbyte/tbyte-ingress" routes host "tbyte.local" path "/" to the Service "frontend" on port 80
    And the Ingress "tbyte/tbyte-ingress" declares spec.ingressClassName = nginx
    And every backend of the Ingress "tbyte/tbyte-ingress" is a Service port in its own namespace

  @live @observed @normal
  Scenario: tbyte.local reaches the frontend through the ingress controller on a live cluster
    Source: Kubernetes Architecture - TByte Microservices Platform § Application Architecture
    Given the system is deployed
    Then requests for host "tbyte.local" path "/" reach the Service "tbyte/frontend" through the ingress
