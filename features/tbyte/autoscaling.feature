@autoscaling
Feature: TByte autoscaling
  Frontend and backend scale between 2 and 10 replicas on 70% CPU and 80% memory; the
  architecture diagram promises 2 to 5 replicas per tier; KEDA scales on the same metrics.

  Background:
    Given the system "tbyte"

  @offline @declared @critical
  Scenario Outline: The <tier> autoscaler keeps 2 to 10 replicas on 70% CPU and 80% memory
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Then the HorizontalPodAutoscaler "tbyte/<tier>-hpa" scales the Deployment "tbyte/<tier>"
    And the HorizontalPodAutoscaler "tbyte/<tier>-hpa" declares spec.minReplicas = 2
    And the HorizontalPodAutoscaler "tbyte/<tier>-hpa" declares spec.maxReplicas = 10
    And the HorizontalPodAutoscaler "tbyte/<tier>-hpa" targets 70% average cpu utilization
    And the HorizontalPodAutoscaler "tbyte/<tier>-hpa" targets 80% average memory utilization

    Examples:
      | tier     |
      | frontend |
      | backend  |

  @offline @declared @normal @known_gap @gap:tbyte-replicas-5-versus-hpa-10
  Scenario: Frontend and backend never run more than the 5 replicas the architecture diagram shows
    Source: Kubernetes Architecture - TByte Microservices Platform § Application Architecture
    Then the HorizontalPodAutoscaler "tbyte/frontend-hpa" declares spec.maxReplicas = 5
    And the HorizontalPodAutoscaler "tbyte/backend-hpa" declares spec.maxReplicas = 5

  @offline @modeled @normal
  Scenario: Under sustained load the backend autoscaler can go from 2 to 10 replicas
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Then the HorizontalPodAutoscaler "tbyte/backend-hpa" can scale from 2 to 10 under sustained load
    And the HorizontalPodAutoscaler "tbyte/frontend-hpa" can scale from 2 to 10 under sustained load

  @offline @declared @normal
  Scenario: KEDA scales frontend and backend on CPU 70% and memory 80%
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Given the system "tbyte" with its custom resources
    Then the ScaledObject "tbyte/frontend-scaledobject" declares spec.scaleTargetRef.name = frontend
    And the ScaledObject "tbyte/backend-scaledobject" declares spec.scaleTargetRef.name = backend
    And the ScaledObject "tbyte/backend-scaledobject" declares spec.triggers[type=cpu].metadata.value = "70"
    And the ScaledObject "tbyte/backend-scaledobject" declares spec.triggers[type=memory].metadata.value = "80"
    And the ScaledObject "tbyte/backend-scaledobject" sets spec.triggers[type=prometheus].metadata.query

  @live @observed @load @serial @normal @slow
  Scenario: The backend reaches 10 ready replicas under load on a live cluster
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Given the system is deployed
    When 100 users load the Service "tbyte/backend"
    Then the Deployment "tbyte/backend" reaches 10 ready replicas

  @live @observed @load @serial @normal @slow
  Scenario: The frontend reaches 10 ready replicas under load on a live cluster
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Given the system is deployed
    When 100 users load the Service "tbyte/frontend"
    Then the Deployment "tbyte/frontend" reaches 10 ready replicas

  @offline @declared @critical @known_gap @gap:tbyte-keda-and-hpa-both-scale
  Scenario: One autoscaler alone decides the size of each tier
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Given the system "tbyte" with its custom resources
    Then the autoscalers of the Deployment "tbyte/frontend" do not conflict
    And the autoscalers of the Deployment "tbyte/backend" do not conflict
