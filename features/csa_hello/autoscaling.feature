@autoscaling
Feature: CSA Hello messenger autoscaling from 3 to 20 replicas
  The messenger HorizontalPodAutoscaler keeps 3 to 20 replicas, aiming at 75% CPU and 80% memory.

  Background:
    Given the system "csa_hello"

  @offline @declared @critical
  Scenario: The messenger autoscaler scales messenger-service between 3 and 20 replicas on CPU and memory
    Source: Kubernetes Architecture for CSA Hello § Horizontal Pod Autoscaling
    Then the HorizontalPodAutoscaler "messenger-system/messenger-hpa" scales the Deployment "messenger-system/messenger-service"
    And the HorizontalPodAutoscaler "messenger-system/messenger-hpa" declares:
      | field            | value |
      | spec.minReplicas | 3     |
      | spec.maxReplicas | 20    |
    And the HorizontalPodAutoscaler "messenger-system/messenger-hpa" targets 75% average cpu utilization
    And the HorizontalPodAutoscaler "messenger-system/messenger-hpa" targets 80% average memory utilization

  @offline @modeled @critical
  Scenario: Under sustained load the messenger autoscaler can go all the way from 3 to 20 replicas
    Source: Kubernetes Architecture for CSA Hello § Horizontal Pod Autoscaling
    Then the HorizontalPodAutoscaler "messenger-system/messenger-hpa" can scale from 3 to 20 under sustained load

  @live @observed @load @serial @critical @slow
  Scenario: Messenger reaches 20 ready replicas under load on a live cluster
    Source: Kubernetes Architecture for CSA Hello § Horizontal Pod Autoscaling
    Given the system is deployed
    When 200 users load the Service "messenger-system/messenger-service"
    Then the Deployment "messenger-system/messenger-service" reaches 20 ready replicas

  @offline @declared @normal
  Scenario: The docs and video modules are autoscaled too
    Source: Kubernetes Architecture for CSA Hello § Kubernetes Cluster Architecture Diagram
    Then the HorizontalPodAutoscaler "docs-system/docs-hpa" scales the Deployment "docs-system/docs-service"
    And the HorizontalPodAutoscaler "video-system/video-hpa" scales the Deployment "video-system/video-service"
